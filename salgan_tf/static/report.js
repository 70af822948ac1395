// The evaluation report's gallery sorting (salgan_tf/report.py inlines it into index.html).
// Each gallery row carries every gallery source's scores as data-s<i><metric> attributes
// (underscores dropped: dataset keys); each metric cell holds one <span class="s<i>"> per source,
// all but the shown source's hidden. Clicking a metric header sorts worst first, again best
// first; the source picker switches whose scores are shown and sorted by. NaN sorts last.
(function () {
  var table = document.getElementById('gallery');
  var body = table.tBodies[0];
  var picker = document.getElementById('gallery-source');
  var state = {metric: table.dataset.sortMetric, source: table.dataset.source, worstFirst: true};
  function value(row, key) { var v = parseFloat(row.dataset[key]); return isNaN(v) ? null : v; }
  function sortBy(metric, source, worstFirst) {
    var header = table.querySelector('th[data-metric="' + metric + '"]');
    var key = 's' + source + metric.replace(/_/g, '');
    var ascending = (worstFirst === (header.dataset.higher === '1'));
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, key), y = value(b, key);
      if (x === null || y === null) { return (x === null) - (y === null); }
      return ascending ? x - y : y - x;
    });
    rows.forEach(function (row, i) { row.cells[0].textContent = i + 1; body.appendChild(row); });
    table.querySelectorAll('th.metric').forEach(function (th) {
      th.classList.toggle('sorted', th === header);
    });
    table.dataset.source = source;
    table.querySelectorAll('td.num span').forEach(function (span) {
      span.hidden = span.className !== 's' + source;
    });
    state = {metric: metric, source: source, worstFirst: worstFirst};
    var name = picker ? picker.options[picker.selectedIndex].text + ' ' : '';
    document.getElementById('sort-state').textContent =
        name + metric + (worstFirst ? ' (worst first)' : ' (best first)');
  }
  table.querySelectorAll('th.metric').forEach(function (th) {
    th.addEventListener('click', function () {
      var again = th.dataset.metric === state.metric;
      sortBy(th.dataset.metric, state.source, again ? !state.worstFirst : true);
    });
  });
  if (picker) {
    picker.addEventListener('change', function () {
      sortBy(state.metric, picker.value, state.worstFirst);
    });
  }
  sortBy(state.metric, state.source, true);
})();
