"""The study's settings: the schemas of conf/ (types and rules), their validation, the tables' specs and the
run layout."""
