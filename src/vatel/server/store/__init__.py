"""The server's database: tables (``schema``), migrations, and one repository per area."""
