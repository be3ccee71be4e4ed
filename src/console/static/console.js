// The console's only script (served as a static file; the page's CSP allows no inline script).
// - Overview: one uPlot chart per kind (scored / flagged / dead-lettered per minute), refreshed every
//   10 s from /api/overview.
// - Review queue: "all on this page" checkbox.
/* global uPlot, document, window, fetch */
(function () {
  'use strict';
  var charts = document.getElementById('charts');
  if (charts && typeof uPlot !== 'undefined') {
    var plots = {};
    var draw = function (series) {
      var kinds = Object.keys(series).sort();
      kinds.forEach(function (kind) {
        var data = series[kind];
        if (plots[kind]) {
          plots[kind].setData(data);
          return;
        }
        var box = document.createElement('div');
        box.className = 'chart';
        box.id = 'chart-' + kind;
        charts.appendChild(box);
        plots[kind] = new uPlot(
          {
            title: kind,
            width: Math.min(900, window.innerWidth - 60),
            height: 220,
            series: [
              {},
              { label: 'scored', stroke: '#2a6fdb', width: 2 },
              { label: 'flagged', stroke: '#d9480f', width: 2 },
              { label: 'dead-lettered', stroke: '#868e96', width: 2 },
            ],
            axes: [{}, { label: 'records / minute' }],
          },
          data,
          box,
        );
      });
      // What was drawn last (kind → scored per minute), for tests and curious eyes.
      var drawn = {};
      kinds.forEach(function (kind) {
        drawn[kind] = series[kind][1];
      });
      charts.setAttribute('data-drawn', JSON.stringify(drawn));
      if (kinds.length === 0 && !document.getElementById('no-chart')) {
        var p = document.createElement('p');
        p.id = 'no-chart';
        p.textContent = 'no data in the last hour';
        charts.appendChild(p);
      }
    };
    draw(JSON.parse(charts.getAttribute('data-series') || '{}'));
    var url = charts.getAttribute('data-refresh');
    if (url) {
      window.setInterval(
        function () {
          fetch(url, { credentials: 'same-origin' })
            .then(function (r) {
              return r.ok ? r.json() : null;
            })
            .then(function (j) {
              if (j && j.series) draw(j.series);
            })
            .catch(function () {});
        },
        Number(charts.getAttribute('data-refresh-ms')) || 10000,
      );
    }
  }
  var all = document.getElementById('select-all');
  if (all) {
    all.addEventListener('change', function () {
      document.querySelectorAll('input.select').forEach(function (c) {
        c.checked = all.checked;
      });
    });
  }
})();
