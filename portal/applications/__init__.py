"""Applications (申请): the lifecycle, assignment, the account manager's desk and workbench."""
