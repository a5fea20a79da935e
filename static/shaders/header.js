/* The header's "signed in as" slot, for session and token sign-ins alike. */
(function () {
  "use strict";
  const slot = document.getElementById("ff-user");
  if (!slot || slot.textContent.trim()) return;
  window.ffApi.me().then(function (me) {
    if (me) slot.textContent = me.username;
    else slot.appendChild(window.ffApi.el("a", { href: slot.dataset.loginUrl, text: "Sign in" }));
  });
})();
