"""Customer accounts: password policy, email-link tokens, transactional email (core types and ports)."""
