"""The operators' web console and the searchable index of decisions and receipts it reads."""
