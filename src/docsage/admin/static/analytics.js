/* docsage dashboard, analytics page: the charts (Chart.js) drawn from the page's
   <script type="application/json" id="analytics-data">, and the period menu that reloads the page.
   A file rather than an inline script, so that the dashboard's Content-Security-Policy forbids inline script. */
(function () {
  "use strict";
  const days = document.querySelector("select[name=days]");
  if (days) days.addEventListener("change", () => days.form.submit());

  const data = JSON.parse(document.getElementById("analytics-data").textContent);
  // A fresh options object per chart: Chart.js writes each chart's axes into the object it is given.
  const opts = (extra) => ({responsive: true, animation: false, plugins: {legend: {position: "bottom"}}, ...(extra || {})});
  new Chart(document.getElementById("questions"), {type: "line", data: {labels: data.labels, datasets: [
    {label: "Questions", data: data.series.questions, borderColor: "#4f46e5", backgroundColor: "#4f46e5"},
    {label: "Uncertain", data: data.series.uncertain, borderColor: "#dc2626", backgroundColor: "#dc2626"}]}, options: opts()});
  new Chart(document.getElementById("uncertain"), {type: "line", data: {labels: data.labels, datasets: [
    {label: "Uncertain %", data: data.uncertain_rate, borderColor: "#f59e0b", backgroundColor: "#f59e0b", spanGaps: true}]},
    options: opts({scales: {y: {min: 0, max: 100}}})});
  new Chart(document.getElementById("votes"), {type: "bar", data: {labels: data.labels, datasets: [
    {label: "Upvotes", data: data.series.upvotes, backgroundColor: "#10b981"},
    {label: "Downvotes", data: data.series.downvotes, backgroundColor: "#ef4444"}]}, options: opts()});
  new Chart(document.getElementById("users"), {type: "bar", data: {labels: data.labels, datasets: [
    {label: "Unique users", data: data.series.users, backgroundColor: "#6366f1"}]}, options: opts()});
  new Chart(document.getElementById("models"), {type: "bar", data: {labels: data.models.map(m => m.model), datasets: [
    {label: "Tokens", data: data.models.map(m => m.input_tokens + m.output_tokens), backgroundColor: "#0ea5e9"}]},
    options: opts({indexAxis: "y", maintainAspectRatio: false})});
})();
