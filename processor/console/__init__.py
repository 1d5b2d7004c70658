"""The operators' web console: an index of what the processor decided and delivered, and pages."""
