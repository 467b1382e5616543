"""Loading numbers from files: reading, checking each record, and the all-or-nothing import."""
