"""The one place that knows file formats: network workbooks (.xlsx or CSV folders),
DHIS2 analytics exports, and the files tpn writes."""

from .dhis2 import Dhis2Mapping, read_dhis2
from .tables import Table, read_csv_table, read_xlsx_tables
from .workbook import DEFAULT_PERIOD, parse_network, read_network
from .writer import (network_rows, write_csv, write_network, write_sheets, write_template,
                     write_xlsx)

__all__ = [
    "DEFAULT_PERIOD", "Dhis2Mapping", "Table", "network_rows", "parse_network",
    "read_csv_table", "read_dhis2", "read_network", "read_xlsx_tables", "write_csv",
    "write_network", "write_sheets", "write_template", "write_xlsx",
]
