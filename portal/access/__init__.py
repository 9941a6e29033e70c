"""Who may do and see what: permissions, roles, the data scope, the security manager,
HTTP security, login throttling, passwords, the org tree, staff, audit and exports."""
