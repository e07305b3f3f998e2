"""Use cases shared by the CLI and the web app; each is one transaction.

No SQL here (that is ``tpn.storage.repository``) and no argument parsing or printing (that
is ``tpn.cli`` and ``web``). Files are read and checked completely before the database is
touched, so a bad file changes nothing. The modules group the use cases by what they are
about; every one is also reachable as ``tpn.services.<name>``.
"""

from . import events, invitations, programme
from .accounts import (MIN_PASSWORD, NETWORK_ROLES, add_user, authenticate, create_share_link,
                       demo, end_session, give_network, revoke_share_link, session_user,
                       set_password, share_links, shared_network, start_session, user, users)
from .analysis import evaluate_network, gap_table, institution_profile
from ..models import DEFAULT_ROUND
from .networks import (BACKUP_FORMAT, accept_score, backup, create_network, focus, history,
                       import_file, institution_count, labels, load, network_language,
                       networks, overview,
                       quality_report, read_for_import, remove_focus, replace_focus, restore,
                       set_fields, set_focus, set_network_language, suggest_focus,
                       withdraw_acceptance)
from .runs import (EXPORT_FORMATS, diff_runs, edit_draft, export_run, input_hash, publish, rerun,
                   rerun_round, run_edits, run_match, run_metrics, run_network, runs, show_run,
                   undo_edit)

__all__ = [
    "BACKUP_FORMAT", "DEFAULT_ROUND", "EXPORT_FORMATS", "MIN_PASSWORD", "NETWORK_ROLES",
    "accept_score",
    "add_user", "authenticate", "backup", "create_network", "create_share_link", "demo",
    "diff_runs", "edit_draft", "end_session", "evaluate_network", "export_run", "focus",
    "gap_table", "give_network", "history", "import_file", "input_hash", "institution_count",
    "institution_profile", "events", "invitations", "labels", "load", "network_language",
    "networks", "overview", "programme",
    "publish", "quality_report", "read_for_import", "remove_focus", "replace_focus",
    "rerun", "rerun_round", "restore", "revoke_share_link", "run_edits", "run_match",
    "run_metrics", "run_network", "runs", "session_user", "set_fields", "set_focus",
    "set_network_language", "set_password",
    "share_links", "shared_network", "show_run", "start_session", "suggest_focus",
    "undo_edit", "user", "users", "withdraw_acceptance",
]
