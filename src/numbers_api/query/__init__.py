"""The query model: a request's parameters parsed and validated into pure values, with no I/O."""
