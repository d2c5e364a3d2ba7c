"""Community workers' spreadsheets (XLSX ledgers, CSV exports) dropped into a folder."""
