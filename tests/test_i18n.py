"""Texts made once in English and said in any language: explanations, problems and reports
read the same in English as before, in French with French words and numbers, and keep how
they were made through storage, pickling and a backup's JSON."""

from __future__ import annotations

import contextvars
import json
import pickle

import pytest

from tpn import services
from tpn.errors import InputError
from tpn.i18n import Text, _, join, languages, lower, ngettext, number, say, use
from tpn.matching import MatchOptions
from tpn.samples import data_dir
from tpn.storage import Database
from tpn.tabular import read_network

NBSP = "\u00a0"


def test_a_text_is_english_until_said_in_another_language():
    t = _("{name} is at capacity ({n} of {cap}): {busy}", name="Huye", n=2, cap=2,
          busy="Nyanza's")
    assert t == "Huye is at capacity (2 of 2): Nyanza's" and isinstance(t, str)
    assert t.say("fr") == "Huye est à pleine capacité (2 sur 2) : Nyanza's"
    def in_french():            # as a web request in French: its own context
        use("fr")
        assert t.say() == "Huye est à pleine capacité (2 sur 2) : Nyanza's"
        assert t.__html__() == "Huye est à pleine capacité (2 sur 2) : Nyanza&#39;s"

    contextvars.copy_context().run(in_french)
    assert t.say() == t            # English again outside that context


def test_numbers_are_written_the_readers_way():
    t = _("size ratio {ratio:.2f}", ratio=0.8512)
    assert t == "size ratio 0.85" and t.say("fr") == "rapport de taille 0,85"
    share = _("the mentor is not in the top {share:.0%} of its kind on the topic", share=0.3)
    assert "30%" in share and f"30{NBSP}%" in share.say("fr")
    assert number(1234.5, ",.1f").say("fr") == "1\u202f234,5"      # a narrow no-break space


def test_plurals_nesting_joins_and_case():
    one, many = (ngettext("{n} problem found; nothing was saved.",
                          "{n} problems found; nothing was saved.", n) for n in (1, 3))
    assert (one, many) == ("1 problem found; nothing was saved.",
                           "3 problems found; nothing was saved.")
    assert many.say("fr") == "3 problèmes trouvés ; rien n'a été enregistré."
    nested = _("breaks a rule ({reason}): {text}", reason="too_far", text=_("too far"))
    assert nested.say("fr") == "enfreint une règle (too_far) : trop loin"
    joined = join([_("locked"), _("keeps a pair of the earlier run")], end=".", capital=True)
    assert joined == "Locked; keeps a pair of the earlier run."
    assert joined.say("fr") == "Verrouillé ; garde une paire de l'appariement précédent."
    assert lower(_("Action plan")).say("fr") == "plan d'action"


def test_a_text_keeps_how_it_was_made_through_json_and_pickle():
    t = join([_("{km:.0f} km apart", km=26.4), "Huye"])
    back = Text.restore(json.loads(json.dumps(str(t))), json.loads(json.dumps(t.spec)))
    assert back == t and back.say("fr") == t.say("fr") == "à 26 km l'un de l'autre ; Huye"
    assert pickle.loads(pickle.dumps(t)).say("fr") == t.say("fr")
    assert Text.restore("plain", None) == "plain" and not isinstance(
        Text.restore("plain", None), Text)
    assert say(None) == "" and say(3) == "3"


def test_a_translation_that_breaks_its_placeholders_falls_back_to_english(monkeypatch):
    import tpn.i18n as i18n

    class Broken:
        def gettext(self, msgid):
            return "{nom} est plein"

    monkeypatch.setattr(i18n, "translations", lambda language: Broken())
    assert _("{name} is full", name="Huye").say("fr") == "Huye is full"


def test_a_text_missing_from_a_catalogue_is_said_as_written():
    assert _("not in any catalogue ({n})", n=1.5).say("fr") == "not in any catalogue (1,5)"


def test_english_is_always_there_and_french_is_found():
    assert list(languages())[0] == "en" and languages()["fr"] == "français"


def test_a_match_made_in_english_is_explained_in_french_from_the_database(tmp_path):
    db = Database.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    services.import_file(db, data_dir() / "rwanda", "rwanda", author="test")
    run = services.run_match(db, "rwanda", author="test")
    stored = services.show_run(db, run.id)
    why = stored.pairs[0]["why"]
    assert isinstance(why, Text) and "is a high performer among district institutions" in why
    assert "fait partie des plus performants parmi les établissements de type district" in \
        why.say("fr")
    fix = stored.unmatched[0]["fix"]
    assert isinstance(fix, Text) and fix.say("fr") != fix
    # Every text of the run says itself in French without an English sentence left over.
    for row in stored.pairs:
        french = row["why"].say("fr")
        assert " is a high performer " not in french and " scores " not in french


def test_problems_of_a_bad_file_are_said_in_french(tmp_path):
    bad = tmp_path / "net"
    bad.mkdir()
    (bad / "institutions.csv").write_text("id,name,kind\nh1,,district\nh1,Two,district\n")
    (bad / "topics.csv").write_text("id,label\nanc,ANC\n")
    (bad / "scores.csv").write_text("institution_id,topic_id,value\nh1,anc,abc\n")
    with pytest.raises(InputError) as caught:
        read_network(bad)
    said = [p.message.say("fr") for p in caught.value.problems if isinstance(p.message, Text)]
    assert said and any("n'est pas un nombre" in s for s in said)
    assert any("utilisé deux fois" in s for s in said)
    # The CLI's report stays English, word for word.
    assert "is not a number" in str(caught.value)


def test_options_say_every_problem_in_the_readers_language():
    from tpn.matching.options import OptionsError

    with pytest.raises(OptionsError) as caught:
        MatchOptions.from_mapping({"top_share": "2", "min_gap": "-1"})
    assert [p.say("fr") for p in caught.value.problems] == [
        "top_share : 2,0 doit être au-dessus de 0 et au plus 1",
        "min_gap : -1,0 ne doit pas être négatif"]
    assert MatchOptions.from_mapping({"top_share": "0,25"}).top_share == 0.25


def test_the_network_language_migration_adds_and_removes_the_column(tmp_path):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from tpn.storage import MIGRATIONS

    db = Database.open(f"sqlite:///{tmp_path / 'old.sqlite'}", upgrade=False, check=False)
    db.upgrade("0013")
    with db.transaction() as conn:
        conn.exec_driver_sql("INSERT INTO network (id, name, created_at) VALUES "
                             "(1, 'rwanda', '2026-01-01')")
    db.upgrade("head")
    assert services.network_language(db, "rwanda") == "en"
    services.set_network_language(db, "rwanda", "fr", "test")
    assert services.network_language(db, "rwanda") == "fr"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0013")
    assert "language" not in {c["name"] for c in inspect(db.engine).get_columns("network")}


def test_the_cli_speaks_english_and_writes_french_on_request(tmp_path, capsys):
    from tpn.cli import main

    data = str(data_dir() / "rwanda")
    assert main(["match", data, "--out", str(tmp_path / "en"), "--explain"]) == 0
    english = capsys.readouterr().out
    assert main(["match", data, "--out", str(tmp_path / "fr"), "--explain", "--lang", "fr"]) == 0
    french = capsys.readouterr().out
    assert english.startswith("58 pairs, 24 unmatched requests (flow, optimal)")
    assert french.startswith("58 paires, 24 demandes non servies (flow, optimal)")
    assert "  pourquoi : " in french and "  ce qui le réglerait : " in french
    # The files are the same bytes whatever the language of --explain.
    for name in ("pairs.csv", "unmatched.csv"):
        assert (tmp_path / "en" / name).read_bytes() == (tmp_path / "fr" / name).read_bytes()
    assert main(["match", data, "--out", str(tmp_path / "x"), "--lang", "xx"]) == 2
    assert "'xx' is not a language tpn speaks" in capsys.readouterr().err

    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert main(["import", data, "--network", "rwanda", "--db", db]) == 0
    assert main(["language", "rwanda", "--db", db]) == 0
    assert capsys.readouterr().out.strip().endswith("rwanda: en (English)")
    assert main(["language", "rwanda", "fr", "--db", db]) == 0
    assert capsys.readouterr().out.strip() == "rwanda: fr (français)"
    assert main(["run", "rwanda", "--db", db]) == 0
    capsys.readouterr()
    assert main(["export", "1", "--format", "xlsx", "--out", str(tmp_path / "r.xlsx"),
                 "--lang", "fr", "--db", db]) == 0
    from openpyxl import load_workbook

    book = load_workbook(tmp_path / "r.xlsx")
    assert book.sheetnames == ["pairs", "unmatched", "labels"]
    assert book["pairs"]["A1"].value == "mentee_id"
