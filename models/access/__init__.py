"""Models of the access domain: org tree, staff, audit."""
