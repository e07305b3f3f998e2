"""Invitations: an institution answers through its own link (focus topics in priority
order, preferred mentors among the eligible, capacity); the facilitator accepts, rejects
and applies the answers; mentors accept or decline the pairs of a shared draft, and a
decline is excluded from the next rerun."""

from __future__ import annotations

import datetime as dt

import pytest

from tpn import services
from tpn.errors import InputError, NotFoundError
from tpn.services import invitations as inv
from tpn.samples import data_dir
from tpn.storage import repository as repo

from helpers import shared_draft_elsewhere


@pytest.fixture
def net(db):
    services.import_file(db, data_dir() / "rwanda", "rwanda")
    return db


def token_of(db, institution: str, network: str = "rwanda") -> str:
    return next(i.token for i in inv.invitations(db, network) if i.institution_id == institution)


def test_an_invitation_per_institution_that_expires_and_is_revoked(net):
    db = net
    made = inv.create(db, "rwanda", author="amina")
    assert len(made) == 40 and len({i.token for i in made}) == 40
    assert inv.create(db, "rwanda") == made            # none twice
    page = inv.page(db, token_of(db, "huye"))
    assert page.institution.id == "huye" and page.invitation.network == "rwanda"
    assert page.eligible and all(m.kind == "district" for ms in page.eligible.values()
                                 for m in ms)
    assert inv.revoke(db, "rwanda", "huye") == 1
    with pytest.raises(NotFoundError, match="does not work"):
        inv.page(db, made[[i.institution_id for i in made].index("huye")].token)
    with pytest.raises(NotFoundError, match="does not work"):
        inv.invited(db, "no-such-token")
    # Expired: the same message.
    with db.transaction() as conn:
        conn.execute(repo.s.invitation.update().where(repo.s.invitation.c.institution_key
                                                      == "gasabo")
                     .values(expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)))
    with pytest.raises(NotFoundError, match="does not work"):
        inv.invited(db, next(i.token for i in made if i.institution_id == "gasabo"))
    assert "gasabo" not in {i.institution_id for i in inv.invitations(db, "rwanda")}
    with pytest.raises(InputError, match="not an institution"):
        inv.create(db, "rwanda", ["atlantis"])


def test_an_answer_is_checked_kept_and_applied(net):
    db = net
    inv.create(db, "rwanda")
    token = token_of(db, "huye")
    page = inv.page(db, token)
    topics = [t for t in page.eligible]
    mentors = page.eligible[topics[0]]
    with pytest.raises(InputError) as caught:
        inv.submit(db, token, [(topics[0], [mentors[0].id, "huye"]), ("readmission", []),
                               (topics[0], [])], "lots")
    said = [(p.column, p.message) for p in caught.value.problems]
    assert any(c == "mentor-1" and "cannot mentor Huye District" in m for c, m in said)
    assert any(c == "topic-2" and "'readmission' is not a topic for Huye District" in m
               for c, m in said)
    assert any(c == "topic-3" and "is chosen twice" in m for c, m in said)
    assert ("capacity", "'lots' is not a number of mentees") in said
    assert inv.board(db, "rwanda").answers == ()
    answer = inv.submit(db, token, [(topics[0], [m.id for m in mentors[:2]]), (topics[1], [])],
                        "1", "we can host one visit")
    assert answer.focus[0].preferred == tuple(m.id for m in mentors[:2]) and answer.capacity == 1
    # Answering again replaces the answer; the board lists who has not answered yet.
    inv.submit(db, token, [(topics[1], []), (topics[0], [mentors[0].id])], "")
    board = inv.board(db, "rwanda")
    assert [a.institution_id for a in board.answers] == ["huye"]
    assert len(board.waiting) == 39 and board.answers[0].focus[0].topic_id == topics[1]
    # Another institution's answer, rejected: left out when the answers are applied.
    inv.submit(db, token_of(db, "gasabo"), [(topics[0], [])], "2")
    inv.decide(db, "rwanda", "gasabo", "rejected", "amina")
    applied = inv.apply(db, "rwanda", "amina")
    assert (applied.institutions, applied.focus, applied.capacities, applied.rejected) == \
        (1, 2, 0, 1)
    focus = {f.topic_id: f for f in services.load(db, "rwanda").focus if f.institution_id == "huye"}
    assert [f.topic_id for f in sorted(focus.values(), key=lambda f: f.priority)] == \
        [topics[1], topics[0]]
    assert focus[topics[0]].preferred == (mentors[0].id,)
    assert [a.status for a in inv.board(db, "rwanda").answers] == ["rejected", "applied"]
    # Closed: the page reads, no longer writes.
    inv.close(db, "rwanda", "amina")
    assert inv.page(db, token).closed
    with pytest.raises(InputError, match="closed"):
        inv.submit(db, token, [(topics[0], [])], "")
    inv.close(db, "rwanda", "amina", closed=False)
    inv.submit(db, token, [(topics[0], [])], "3")
    assert inv.apply(db, "rwanda").capacities == 1
    assert {i.id: i.capacity for i in services.load(db, "rwanda").institutions}["huye"] == 3


def test_an_invitation_reaches_its_own_institution_only(net):
    db = net
    run_id, pair = shared_draft_elsewhere(db)
    # A mentor's token of rwanda cannot answer for other's pair, even with its ids.
    mentor_token = token_of(db, pair["mentor_id"], "rwanda")
    assert inv.proposals(db, mentor_token) == []
    with pytest.raises(NotFoundError, match="not proposed to you"):
        inv.respond(db, mentor_token, run_id, pair["mentee_id"], pair["topic_id"], "accept")
    # Nor can another institution of the same network answer for that mentor.
    other_token = token_of(db, pair["mentee_id"], "other")
    with pytest.raises(NotFoundError, match="not proposed to you"):
        inv.respond(db, other_token, run_id, pair["mentee_id"], pair["topic_id"], "accept")
    assert inv.acceptance(db, run_id).accepted == ()


def test_mentors_accept_or_decline_and_a_decline_is_excluded_next(net):
    db = net
    inv.create(db, "rwanda")
    run = services.run_match(db, "rwanda", "2024")
    assert inv.acceptance(db, run.id).asked is False
    inv.ask_mentors(db, run.id, "amina")
    pairs = services.show_run(db, run.id).pairs
    first, second = pairs[0], next(p for p in pairs if p["mentor_id"] != pairs[0]["mentor_id"])
    mine = inv.proposals(db, token_of(db, first["mentor_id"]))
    assert {(p.mentee_id, p.topic_id) for p in mine} == {
        (p["mentee_id"], p["topic_id"]) for p in pairs if p["mentor_id"] == first["mentor_id"]}
    assert all(p.why and p.response is None for p in mine)
    inv.respond(db, token_of(db, first["mentor_id"]), run.id, first["mentee_id"],
                first["topic_id"], "accept")
    with pytest.raises(InputError, match="a decline needs a reason"):
        inv.respond(db, token_of(db, second["mentor_id"]), run.id, second["mentee_id"],
                    second["topic_id"], "decline")
    inv.respond(db, token_of(db, second["mentor_id"]), run.id, second["mentee_id"],
                second["topic_id"], "decline", "our team is away in May")
    state = inv.acceptance(db, run.id)
    assert state.status(first["mentee_id"], first["topic_id"], first["mentor_id"]) == "accepted"
    assert state.status(second["mentee_id"], second["topic_id"], second["mentor_id"]) == \
        "declined"
    assert len(state.pending) == len(pairs) - 2
    edit = services.run_edits(db, run.id)[-1]
    assert (edit.action, edit.mentor_id, edit.note) == (
        "exclude", second["mentor_id"], "the mentor declined: our team is away in May")
    # Publishing asks for confirmation; the rerun leaves the declined pair out and keeps the
    # accepted one's answer.
    with pytest.raises(InputError, match=r"\d+ pair\(s\) await their mentor's answer and 1 "
                                         "were declined"):
        services.publish(db, run.id)
    again = services.rerun(db, run.id)
    keys = {(p["mentee_id"], p["topic_id"], p["mentor_id"])
            for p in services.show_run(db, again.id).pairs}
    assert (second["mentee_id"], second["topic_id"], second["mentor_id"]) not in keys
    inv.ask_mentors(db, again.id)
    later = inv.acceptance(db, again.id)
    if (first["mentee_id"], first["topic_id"], first["mentor_id"]) in keys:
        assert later.status(first["mentee_id"], first["topic_id"], first["mentor_id"]) == \
            "accepted"
    assert services.publish(db, again.id, confirmed=True).pairs == len(keys)


def test_cli_invite_answers_and_mentors(net, capsys, tmp_path):
    from tpn.cli import main

    db = net
    url = str(db.engine.url)
    assert main(["invite", "create", "rwanda", "--institution", "huye", "--institution",
                 "gasabo", "--db", url]) == 0
    assert "2 live invitations in round 1 of rwanda" in capsys.readouterr().out
    assert main(["invite", "list", "rwanda", "--base-url", "http://10.0.0.5:8000",
                 "--db", url]) == 0
    out = capsys.readouterr().out
    assert "http://10.0.0.5:8000/i/" in out and "0 of 2 answered" in out
    assert main(["invite", "export", "rwanda", "--out", str(tmp_path / "links.csv"),
                 "--format", "csv", "--db", url]) == 0
    assert (tmp_path / "links.csv").read_text().count("/i/") == 2
    page = inv.page(db, token_of(db, "huye"))
    topic = next(iter(page.eligible))
    inv.submit(db, token_of(db, "huye"), [(topic, [page.eligible[topic][0].id])], "2")
    assert main(["answers", "rwanda", "--accept", "huye", "--apply", "--close",
                 "--db", url]) == 0
    out = capsys.readouterr().out
    assert "applied the answers of 1 institutions: 1 focus topics, 1 capacities" in out
    assert f"huye                     applied   {topic} (asks " in out
    assert "not yet: gasabo; answers are closed" in out
    run = services.run_match(db, "rwanda", "2024").id
    assert main(["invite", "ask", str(run), "--db", url]) == 0
    assert main(["invite", "acceptance", str(run), "--db", url]) == 0
    assert "0 accepted, 0 declined" in capsys.readouterr().out
    assert main(["publish", str(run), "--db", url]) == 2
    assert "await their mentor's answer" in capsys.readouterr().err
    assert main(["publish", str(run), "--yes", "--db", url]) == 0


def test_answers_and_responses_are_backed_up_without_the_links(net):
    import json

    db = net
    inv.create(db, "rwanda")
    page = inv.page(db, token_of(db, "huye"))
    topic = next(iter(page.eligible))
    inv.submit(db, token_of(db, "huye"), [(topic, [page.eligible[topic][0].id])], "2", "hello")
    inv.close(db, "rwanda", "amina")
    run = services.run_match(db, "rwanda", "2024")
    inv.ask_mentors(db, run.id)
    pair = services.show_run(db, run.id).pairs[0]
    inv.respond(db, token_of(db, pair["mentor_id"]), run.id, pair["mentee_id"],
                pair["topic_id"], "decline", "away")
    first = services.backup(db, "rwanda")
    doc = json.loads(first)
    assert [a["note"] for a in doc["answers"]] == ["hello"]
    assert doc["mentor_responses"][0]["reason"] == "away" and doc["closed_rounds"]
    assert all(i.token.encode() not in first for i in inv.invitations(db, "rwanda"))
    services.restore(db, first, "copy")
    assert services.backup(db, "copy").replace(b'"network": "copy"', b'"network": "rwanda"') \
        == first
    copy_run = max(r.id for r in services.runs(db, "copy"))
    assert inv.acceptance(db, copy_run).declined[0].reason == "away"
    assert inv.invitations(db, "copy") == []
