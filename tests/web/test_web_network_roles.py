"""Accounts given networks: such an account sees and works on those alone, with the role
given on each — in the pages, the JSON API and the CLI; an account given none works on
every network with its own role, as before."""

from __future__ import annotations

import base64

import pytest

from tpn import services
from tpn.errors import InputError, NotFoundError
from webclient import PASSWORDS, login, post


@pytest.fixture
def scoped(app, db):
    """The facilitator account, given rwanda as a viewer and 'north' as a facilitator;
    'kept-apart' is a network it was not given."""
    for name in ("north", "kept-apart"):
        services.import_file(db, _sample(), name, author="setup")
    services.give_network(db, "facilitator", "rwanda", "viewer")
    services.give_network(db, "facilitator", "north", "facilitator")
    return {"rwanda": services.run_match(db, "rwanda").id,
            "north": services.run_match(db, "north").id,
            "kept-apart": services.run_match(db, "kept-apart").id}


def _sample():
    from tpn.samples import data_dir

    return data_dir() / "rwanda"


def test_an_account_given_networks_sees_those_alone(app, scoped):
    client = login(app.test_client(), "facilitator")
    index = client.get("/").text
    assert "north" in index and "rwanda" in index and "kept-apart" not in index
    assert client.get("/networks/kept-apart").status_code == 403
    assert client.get("/networks/kept-apart/gaps").status_code == 403
    assert client.get(f"/runs/{scoped['kept-apart']}").status_code == 403
    assert client.get(f"/runs/{scoped['kept-apart']}/export/pairs.csv").status_code == 403
    assert client.get("/runs/999999").status_code == 404
    assert client.get("/networks/rwanda").status_code == 200
    assert client.get(f"/runs/{scoped['rwanda']}").status_code == 200


def test_the_role_given_on_each_network_decides_what_it_may_do(app, db, scoped):
    client = login(app.test_client(), "facilitator")
    # A viewer of rwanda: reads it, changes nothing, is offered no button to.
    assert post(client, "/networks/rwanda/match", {}).status_code == 403
    assert post(client, f"/runs/{scoped['rwanda']}/publish").status_code == 403
    assert post(client, "/networks/rwanda/focus", {"inst-0": "kibuye_hospital",
                                                   "focus-0-1": "ipc"}).status_code == 403
    assert "Save this page" not in client.get("/networks/rwanda/focus").text
    # A facilitator of north: works there as one (helpers called inside views included).
    assert "Save this page" in client.get("/networks/north/focus").text
    saved = post(client, "/networks/north/focus", {"inst-0": "kibuye_hospital",
                                                   "focus-0-1": "ipc", "action": "save-row-0"})
    assert saved.status_code == 302
    assert [f.topic_id for f in services.focus(db, "north")
            if f.institution_id == "kibuye_hospital"] == ["ipc"]
    assert post(client, f"/runs/{scoped['north']}/publish").status_code == 302
    assert services.show_run(db, scoped["north"]).status == "published"
    # No new network and no accounts: those concern every network.
    assert post(client, "/networks", {"name": "mine"}).status_code == 403
    assert "mine" not in services.networks(db)
    assert client.get("/users").status_code == 403


def test_the_api_follows_the_same_networks_and_roles(app, scoped):
    client = app.test_client()
    key = base64.b64encode(f"facilitator:{PASSWORDS['facilitator']}".encode()).decode()
    h = {"Authorization": f"Basic {key}"}
    names = [n["name"] for n in client.get("/api/v1/networks", headers=h).get_json()["networks"]]
    assert names == ["north", "rwanda"]
    assert client.get("/api/v1/networks/kept-apart", headers=h).status_code == 403
    assert client.get(f"/api/v1/runs/{scoped['kept-apart']}", headers=h).status_code == 403
    assert client.post("/api/v1/networks/rwanda/runs", headers=h, json={}).status_code == 403
    assert client.post("/api/v1/networks/north/runs", headers=h, json={}).status_code == 201


def test_taking_every_network_back_restores_the_accounts_own_role(app, db, scoped):
    services.give_network(db, "facilitator", "rwanda", None)
    services.give_network(db, "facilitator", "north", None)
    client = login(app.test_client(), "facilitator")
    assert client.get("/networks/kept-apart").status_code == 200
    assert post(client, "/networks", {"name": "mine"}).status_code == 302
    with pytest.raises(NotFoundError, match="was not given north"):
        services.give_network(db, "facilitator", "north", None)


def test_networks_are_given_by_an_admin_in_the_app(app, db):
    admin = login(app.test_client(), "admin")
    page = admin.get("/users").text
    assert "Networks of an account" in page and "every network" in page
    done = post(admin, "/users/networks", {"username": "viewer", "network": "rwanda",
                                           "role": "facilitator"})
    assert done.status_code == 302
    assert services.user(db, "viewer").networks == (("rwanda", "facilitator"),)
    assert "rwanda (facilitator)" in admin.get("/users").text
    assert post(admin, "/users/networks", {"username": "viewer", "network": "rwanda",
                                           "role": "none"}).status_code == 302
    assert services.user(db, "viewer").networks == ()
    refused = post(admin, "/users/networks", {"username": "admin", "network": "rwanda",
                                              "role": "viewer"})
    assert refused.status_code == 400 and "manages every network" in refused.text
    assert post(client := login(app.test_client(), "viewer"), "/users/networks",
                {"username": "viewer", "network": "rwanda", "role": "facilitator"}
                ).status_code == 403
    assert client.get("/networks/rwanda").status_code == 200


def test_bad_grants_are_refused_with_a_reason(db):
    with pytest.raises(InputError, match="'admin' is not a role on a network"):
        services.give_network(db, "viewer", "rwanda", "admin")
    with pytest.raises(NotFoundError, match="no user 'nobody'"):
        services.give_network(db, "nobody", "rwanda", "viewer")
    with pytest.raises(NotFoundError, match="no network named 'nowhere'"):
        services.give_network(db, "viewer", "nowhere", "viewer")
