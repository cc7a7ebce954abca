// A sign-in or sign-out request another site posted here is sent on once from this origin, so the
// browser includes Gatehouse's own cookies (SameSite=Lax). Without this script the person selects Continue.
for (const form of document.querySelectorAll('form[data-relay]')) form.submit();
