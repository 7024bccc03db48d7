// Copy buttons for read-only fields (the DNS records). Progressive enhancement: without this
// script the buttons stay hidden and the values can be selected and copied by hand.
(function () {
  "use strict";
  function copied(button) {
    var label = button.textContent;
    button.textContent = "Copied";
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = field.value;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { copied(button); }, function () {
          field.select();
        });
      } else {
        field.select();
        if (document.execCommand && document.execCommand("copy")) { copied(button); }
      }
    });
  });
})();
