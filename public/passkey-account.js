// Passkeys in Account settings: filled in by issue 13's work.
