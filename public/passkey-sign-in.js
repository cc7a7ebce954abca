// Passkeys at sign-in: "Sign in with a passkey" on the login page, and a passkey as the second
// step. Each passkey form is rendered inside a hidden [data-passkey] block and shown only once
// this script knows the browser can use passkeys, so there is never a dead button. The script has
// no words of its own: what it says comes from the form's data-cancelled and data-failed.
//
// A click asks the server for options (a single-use challenge, by a form-encoded POST carrying the
// CSRF token), hands them to the browser (SimpleWebAuthnBrowser, /assets/webauthn.js), and posts
// the answer in the form's hidden "response" field: a plain form post, so the sign-in continues
// with the server's redirects as it does after a password.
(() => {
  const webauthn = globalThis.SimpleWebAuthnBrowser;
  if (!webauthn?.browserSupportsWebAuthn()) return;

  for (const note of document.querySelectorAll('[data-passkey-unsupported]')) note.hidden = true;

  for (const form of document.querySelectorAll('form[data-passkey-options]')) {
    const block = form.closest('[data-passkey]');
    const status = form.querySelector('[data-passkey-status]');
    const button = form.querySelector('button[type=submit]');
    let busy = false;

    const say = (words) => {
      if (!status) return;
      status.textContent = words ?? '';
      status.hidden = !words;
    };

    // Only the browser's own "cancelled" or "timed out" is said as such; anything else is a failure.
    const wordsFor = (error) =>
      error?.name === 'NotAllowedError' || error?.name === 'AbortError' ? form.dataset.cancelled : form.dataset.failed;

    const options = async () => {
      const response = await fetch(form.dataset.passkeyOptions, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: form.elements._csrf.value }),
      });
      if (!response.ok) throw new Error(`passkey options: ${response.status}`);
      return response.json();
    };

    const ready = () => {
      busy = false;
      button?.removeAttribute('aria-busy');
    };
    // Back to this page after the form was sent (the back button): the button works again.
    window.addEventListener('pageshow', ready);

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (busy) return;
      busy = true;
      button?.setAttribute('aria-busy', 'true');
      say('');
      try {
        const answer = await webauthn.startAuthentication({ optionsJSON: await options() });
        form.elements.response.value = JSON.stringify(answer);
        // The login page's "keep me signed in" box belongs to the password form: copy its answer.
        const remember = form.dataset.passkeyRemember && document.getElementById(form.dataset.passkeyRemember);
        if (remember && form.elements.remember) form.elements.remember.value = remember.checked ? 'yes' : '';
        form.submit();
      } catch (error) {
        say(wordsFor(error));
        ready();
      }
    });

    if (block) block.hidden = false;
  }
})();
