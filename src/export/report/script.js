// kwire report: a link to #split-api (or -all, -broker) selects that chart
// breakdown; the selector itself works without script.
(function () {
  var pick = function () {
    var id = decodeURIComponent(location.hash.slice(1));
    if (id.indexOf("split-") !== 0) return;
    var input = document.getElementById(id);
    if (input && input.type === "radio") {
      input.checked = true;
      document.getElementById("charts").scrollIntoView();
    }
  };
  window.addEventListener("hashchange", pick);
  pick();
})();
