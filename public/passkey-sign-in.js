// Passkeys at sign-in: filled in by issue 13's work.
