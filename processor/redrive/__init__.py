"""``lead-router redrive``: dead-lettered or unroutable leads published to the input topic again,
after a fix, exactly once (:mod:`.select` chooses, :mod:`.publish` publishes)."""
