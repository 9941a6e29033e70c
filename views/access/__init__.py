"""Views of the access domain: login, org tree, staff, audit log, FAB's security pages."""
