// Shows an upload's progress. The form works without this file; with it, the file is
// sent by XMLHttpRequest so that the bytes sent can be shown, then the page follows the
// server's answer (the import's report, or the form with its error).
(function () {
  "use strict";
  var form = document.getElementById("upload");
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var bar = document.getElementById("upload-progress");
    var status = document.getElementById("upload-status");
    var button = document.getElementById("do-upload");
    bar.hidden = false; status.hidden = false; button.disabled = true;
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { bar.value = Math.round((e.loaded / e.total) * 100); }
    });
    request.upload.addEventListener("load", function () {
      bar.removeAttribute("value");  // indeterminate while the server reads the file
      status.textContent = status.getAttribute("data-reading");
    });
    request.addEventListener("load", function () {
      if (request.responseURL && request.responseURL.indexOf("/statements/") !== -1) {
        window.location.assign(request.responseURL);
      } else {
        document.open(); document.write(request.responseText); document.close();
      }
    });
    request.addEventListener("error", function () { button.disabled = false; form.submit(); });
    request.send(new FormData(form));
  });
}());
