// Progressive enhancement only: every page works without this script.

// Show password: each password field's button (rendered hidden, with its words in data-show and
// data-hide, since this script has no words of its own) appears only when this script runs. It
// shows the password as text while pressed, and every field is a password field again before its
// form is sent, so password managers still see one.
(() => {
  for (const button of document.querySelectorAll('button.show-password[aria-controls]')) {
    const field = document.getElementById(button.getAttribute('aria-controls'));
    if (!field || field.type !== 'password') continue;
    const show = (shown) => {
      field.type = shown ? 'text' : 'password';
      button.setAttribute('aria-pressed', String(shown));
      button.textContent = shown ? button.dataset.hide : button.dataset.show;
    };
    button.addEventListener('click', () => show(field.type === 'password'));
    field.form?.addEventListener('submit', () => show(false));
    // Coming back to the page (the back button) shows it hidden again.
    window.addEventListener('pageshow', () => show(false));
    button.hidden = false;
  }
})();

// Print (backup codes): the button is rendered hidden and shown only when this script runs, since
// printing needs it; without the script the page still offers the download and the browser's own print.
(() => {
  for (const button of document.querySelectorAll('button[data-print]')) {
    button.addEventListener('click', () => window.print());
    button.hidden = false;
  }
})();
