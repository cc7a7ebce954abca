// Passkeys in Account settings: "Create passkey" on the add page and "Confirm with a passkey" on
// the confirm page; and "Set up a passkey" inside a sign-in (the enrolment offer and its pages).
// Each form sits in a hidden [data-passkey] block, shown only once this script knows the browser
// can use passkeys (until then the page says it cannot: never a dead button).
// The script has no words of its own: what it says comes from the form's data-* attributes.
//
// Submitting asks the server for options (a single-use challenge, by a form-encoded POST carrying
// the CSRF token), hands them to the browser (SimpleWebAuthnBrowser, /assets/webauthn.js), puts
// the answer in the form's hidden "response" field and posts the form: the server's own redirects
// and error pages then work as for any other form.
(() => {
  const webauthn = globalThis.SimpleWebAuthnBrowser;
  if (!webauthn?.browserSupportsWebAuthn()) return;

  for (const note of document.querySelectorAll('[data-passkey-unsupported]')) note.hidden = true;
  // A way to a passkey (a link, no form of its own), such as on the app's enrolment inside a sign-in.
  for (const choice of document.querySelectorAll('[data-passkey-choice]')) choice.hidden = false;

  const ceremonies = [
    ['form[data-passkey-register]', 'passkeyRegister', (optionsJSON) => webauthn.startRegistration({ optionsJSON })],
    ['form[data-passkey-confirm]', 'passkeyConfirm', (optionsJSON) => webauthn.startAuthentication({ optionsJSON })],
  ];

  for (const [selector, optionsAt, ceremony] of ceremonies) {
    for (const form of document.querySelectorAll(selector)) {
      const status = form.querySelector('[data-passkey-status]');
      const button = form.querySelector('button[type=submit]');
      const name = form.elements.name;
      let busy = false;

      const say = (words) => {
        if (!status) return;
        status.textContent = words ?? '';
        status.hidden = !words;
      };

      // The browser's own "cancelled or timed out", and "this device has one already", are said as such.
      const wordsFor = (error) => {
        if (error?.name === 'NotAllowedError' || error?.name === 'AbortError') return form.dataset.cancelled;
        if (error?.name === 'InvalidStateError' && form.dataset.duplicate) return form.dataset.duplicate;
        return form.dataset.failed;
      };

      const options = async () => {
        const response = await fetch(form.dataset[optionsAt], {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: new URLSearchParams({ _csrf: form.elements._csrf.value }),
        });
        const body = await response.json().catch(() => ({}));
        // The proof of who this is went stale while the page was open: confirm first, then back here.
        if (response.status === 403 && typeof body.confirm === 'string') {
          window.location.assign(body.confirm);
          return null;
        }
        if (!response.ok) throw new Error(`passkey options: ${response.status}`);
        return body;
      };

      const ready = () => {
        busy = false;
        button?.removeAttribute('aria-busy');
      };
      // Back to this page after the form was sent (the back button, from the browser's page cache):
      // the button works again instead of waiting for a ceremony that has ended.
      window.addEventListener('pageshow', ready);

      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        if (busy) return;
        // A missing name is the server's to say, in words, before any passkey is made on the device.
        if (name && !name.value.trim()) return form.submit();
        busy = true;
        button?.setAttribute('aria-busy', 'true');
        say('');
        try {
          const optionsJSON = await options();
          if (!optionsJSON) return;
          form.elements.response.value = JSON.stringify(await ceremony(optionsJSON));
          form.submit();
        } catch (error) {
          say(wordsFor(error));
          ready();
        }
      });

      const block = form.closest('[data-passkey]');
      if (block) block.hidden = false;
    }
  }
})();
