"""Following an audit record back to what it names: the lead as it was published."""
