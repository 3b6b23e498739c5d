"""Board against host reference: the validator and its report."""
