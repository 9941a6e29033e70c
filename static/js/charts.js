/* Draws every .portal-chart from its data-options (ECharts options built by pyecharts on the
   server). A click on a bar/slice follows data-drill[name] to the matching, scoped list. */
(function () {
  "use strict";
  function draw(el) {
    var chart = echarts.init(el, null, { renderer: "canvas" });
    // "drawn" once rendering and the entry animation are over: only then is every bar where a
    // click (a person's or a browser test's) expects it
    chart.on("finished", function () { el.setAttribute("data-drawn", "1"); });
    chart.setOption(JSON.parse(el.getAttribute("data-options")));
    var drill = JSON.parse(el.getAttribute("data-drill") || "{}");
    if (Object.keys(drill).length) {
      chart.on("click", function (p) {
        var url = drill[p.name];
        if (url) { window.location.href = url; }
      });
    }
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function drawAll() {
    var nodes = document.querySelectorAll(".portal-chart");
    for (var i = 0; i < nodes.length; i++) { draw(nodes[i]); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
