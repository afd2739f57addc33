// Security keys (WebAuthn/FIDO2) for the electronic-key pages: registration on the
// enrolment page (#webauthn-register), authentication on the verification page
// (#webauthn-authenticate). The server sends the ceremony's options as JSON (binary fields
// base64url-encoded), this file turns them into what navigator.credentials expects and sends
// the authenticator's answer back the same way. No inline script: the CSP forbids it.
(function () {
  "use strict";

  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          var error = new Error(data.error || response.statusText);
          error.fromServer = true;
          throw error;
        }
        return data;
      });
    });
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return { type: d.type, id: toBytes(d.id), transports: d.transports };
    });
  }

  function showError(button, error) {
    var box = document.getElementById("webauthn-error");
    if (!box) { return; }
    box.textContent = error && error.fromServer ? error.message : button.dataset.messageFailed;
    box.classList.remove("d-none");
  }

  function hideError() {
    var box = document.getElementById("webauthn-error");
    if (box) { box.classList.add("d-none"); }
  }

  function register(button) {
    var labelInput = document.getElementById(button.dataset.labelInput || "");
    // A key issued by the register's keeper, chosen on the page (absent: none was issued).
    var issuedInput = document.getElementById(button.dataset.issuedInput || "");
    return post(button.dataset.optionsUrl).then(function (options) {
      options.challenge = toBytes(options.challenge);
      options.user.id = toBytes(options.user.id);
      options.excludeCredentials = descriptors(options.excludeCredentials);
      return navigator.credentials.create({ publicKey: options });
    }).then(function (credential) {
      var response = credential.response;
      return post(button.dataset.finishUrl, {
        label: labelInput ? labelInput.value : "",
        issued: issuedInput ? issuedInput.value : "",
        credential: {
          id: credential.id,
          rawId: toText(credential.rawId),
          type: credential.type,
          authenticatorAttachment: credential.authenticatorAttachment || undefined,
          response: {
            clientDataJSON: toText(response.clientDataJSON),
            attestationObject: toText(response.attestationObject),
            transports: response.getTransports ? response.getTransports() : [],
          },
        },
      });
    });
  }

  function authenticate(button) {
    return post(button.dataset.optionsUrl).then(function (options) {
      options.challenge = toBytes(options.challenge);
      options.allowCredentials = descriptors(options.allowCredentials);
      return navigator.credentials.get({ publicKey: options });
    }).then(function (credential) {
      var response = credential.response;
      return post(button.dataset.finishUrl, {
        credential: {
          id: credential.id,
          rawId: toText(credential.rawId),
          type: credential.type,
          authenticatorAttachment: credential.authenticatorAttachment || undefined,
          response: {
            clientDataJSON: toText(response.clientDataJSON),
            authenticatorData: toText(response.authenticatorData),
            signature: toText(response.signature),
            userHandle: response.userHandle ? toText(response.userHandle) : undefined,
          },
        },
      });
    });
  }

  // The first key's recovery codes come in the answer itself and are shown once, here.
  function showCodes(result) {
    var list = document.getElementById("webauthn-codes-list");
    result.codes.forEach(function (code) {
      var item = document.createElement("li");
      var text = document.createElement("code");
      text.className = "fs-5";
      text.textContent = code;
      item.appendChild(text);
      list.appendChild(item);
    });
    document.getElementById("webauthn-codes-continue").setAttribute("href", result.redirect);
    document.getElementById("mfa-choices").classList.add("d-none");
    document.getElementById("webauthn-codes").classList.remove("d-none");
  }

  function wire(id, ceremony) {
    var button = document.getElementById(id);
    if (!button) { return; }
    if (!window.PublicKeyCredential || !window.isSecureContext) {
      button.disabled = true;
      var note = document.getElementById("webauthn-unsupported");
      if (note) { note.classList.remove("d-none"); }
      return;
    }
    button.addEventListener("click", function () {
      hideError();
      button.disabled = true;
      ceremony(button).then(function (result) {
        if (result.codes && result.codes.length) {
          showCodes(result);
        } else {
          window.location.assign(result.redirect);
        }
      }).catch(function (error) {
        button.disabled = false;
        showError(button, error);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    wire("webauthn-register", register);
    wire("webauthn-authenticate", authenticate);
  });
})();
