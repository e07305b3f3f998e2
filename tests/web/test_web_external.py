"""External partners in the app and the CLI: marked and offered on topics from the
institution's page (with history), refused when offered without being external, matched
and shown without scores."""

from __future__ import annotations

import dataclasses

from tpn import services
from tpn.cli import main
from tpn.models import Institution
from tpn.samples import rwanda
from tpn.tabular import write_network
from webclient import post

PARTNER = Institution("overseas", "Overseas Teaching Hospital", "partner", capacity=3)


def with_partner(db, tmp_path, **fields):
    net = rwanda()
    net = dataclasses.replace(net, institutions=net.institutions
                              + (dataclasses.replace(PARTNER, **fields),))
    services.import_file(db, write_network(net, tmp_path / "net.xlsx"), "partnered")


def test_a_facilitator_offers_a_partner_on_topics_and_the_match_uses_it(db, as_facilitator,
                                                                        tmp_path):
    with_partner(db, tmp_path)
    page = as_facilitator.get("/networks/partnered/institutions/overseas").text
    assert 'name="mentors_on" value="cbhi"' in page and "external partner</span>" not in page
    response = post(as_facilitator, "/networks/partnered/institutions/overseas",
                    {"partner_fields": "1", "external": "yes", "mentors_on": ["cbhi", "anc4"]})
    assert response.status_code == 302
    partner = {i.id: i for i in services.load(db, "partnered").institutions}["overseas"]
    assert partner.external and partner.mentors_on == ("anc4", "cbhi")
    changes = [(h.field, h.new) for h in services.history(db, "partnered", "overseas")]
    assert ("external", "true") in changes and ("mentors_on", '"anc4;cbhi"') in changes
    page = as_facilitator.get("/networks/partnered/institutions/overseas").text
    assert "external partner</span> offered as a mentor on" in page
    run = services.run_match(db, "partnered", "2024")
    pairs = [p for p in services.show_run(db, run.id).pairs if p["mentor_id"] == "overseas"]
    assert pairs and {p["topic_id"] for p in pairs} <= {"anc4", "cbhi"}
    assert all("is an external partner the facilitator offered" in p["why"] for p in pairs)
    results = as_facilitator.get(f"/runs/{run.id}").text
    assert "the mentor is an external partner, without scores" in results
    # Unmarked, it is offered on nothing any more.
    post(as_facilitator, "/networks/partnered/institutions/overseas", {"partner_fields": "1"})
    partner = {i.id: i for i in services.load(db, "partnered").institutions}["overseas"]
    assert (partner.external, partner.mentors_on) == (False, ())


def test_offering_a_topic_without_being_external_is_refused(db, tmp_path, capsys):
    with_partner(db, tmp_path)
    url = str(db.engine.url)
    assert main(["institution", "set", "partnered", "overseas", "mentors_on=cbhi",
                 "--db", url]) == 2
    assert "only an external partner is offered as a mentor" in capsys.readouterr().err
    assert main(["institution", "set", "partnered", "overseas", "mentors_on=hand washing",
                 "external=yes", "--db", url]) == 2
    assert "'hand washing' is not a topic of the network" in capsys.readouterr().err
    assert main(["institution", "set", "partnered", "overseas", "external=yes",
                 "mentors_on=CBHI; ANC4 coverage", "--db", url]) == 0
    partner = {i.id: i for i in services.load(db, "partnered").institutions}["overseas"]
    assert partner.mentors_on == ("anc4", "cbhi")


def test_a_workbook_marks_partners_and_a_dhis2_like_file_leaves_them(db, tmp_path):
    with_partner(db, tmp_path, external=True, mentors_on=("cbhi",))
    assert {i.id: i for i in services.load(db, "partnered").institutions}["overseas"].external
    # A file without the columns (as a DHIS2 export) does not unmark it.
    services.import_file(db, write_network(dataclasses.replace(
        rwanda(), institutions=rwanda().institutions + (PARTNER,), snapshots=()),
        tmp_path / "again.xlsx"), "partnered")
    partner = {i.id: i for i in services.load(db, "partnered").institutions}["overseas"]
    assert partner.external and partner.mentors_on == ("cbhi",)
