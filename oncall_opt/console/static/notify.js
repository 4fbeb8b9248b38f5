// Browser notifications for the console (opt-in, see console/alerts.py). Loaded from the
// console itself inside a small frame whose only data are the attributes of #alerts, so that
// no page data is ever script. A page is shown once per browser (localStorage), with a beep
// when the browser lets a page play sound.
(function () {
  "use strict";
  var holder = document.getElementById("alerts");
  if (!holder || !("Notification" in window)) {
    return;
  }
  var SEEN = "oncall-notified";
  var seen = [];
  try {
    seen = JSON.parse(window.localStorage.getItem(SEEN) || "[]");
  } catch (e) {
    seen = [];
  }
  var pages = [];
  try {
    pages = JSON.parse(holder.getAttribute("data-pages") || "[]");
  } catch (e) {
    pages = [];
  }

  function beep() {
    try {
      var Audio = window.AudioContext || window.webkitAudioContext;
      var context = new Audio();
      var tone = context.createOscillator();
      var volume = context.createGain();
      tone.frequency.value = 880;
      volume.gain.value = 0.15;
      tone.connect(volume);
      volume.connect(context.destination);
      tone.start();
      tone.stop(context.currentTime + 0.35);
    } catch (e) {
      // No sound allowed here: the notification still shows.
    }
  }

  function show() {
    var fresh = pages.filter(function (page) { return seen.indexOf(page.tag) < 0; });
    fresh.forEach(function (page) {
      // Text only: a notification's title and body are never read as markup.
      var note = new Notification(page.title, { body: page.body, tag: page.tag, silent: false });
      note.onclick = function () {
        // The frame may not navigate the page (its sandbox): the incident opens in a tab.
        window.open(page.url, "_blank", "noopener");
        note.close();
      };
      seen.push(page.tag);
    });
    if (fresh.length) {
      beep();
    }
    // Only what is still waiting is remembered: the list stays as short as the page's, and
    // an incident shown once is never shown again while it waits.
    var waiting = pages.map(function (page) { return page.tag; });
    seen = seen.filter(function (tag) { return waiting.indexOf(tag) >= 0; });
    window.localStorage.setItem(SEEN, JSON.stringify(seen));
  }

  function say(text) {
    holder.textContent = text;
  }

  function settle(answer) {
    if (answer === "granted") {
      say("On in this browser.");
      show();
    } else if (answer === "denied") {
      say("Blocked by this browser: allow notifications in its site settings.");
    }
  }

  if (Notification.permission === "default") {
    // Asked on a click in this frame: browsers ask only when the person asks for it.
    var ask = document.createElement("button");
    ask.type = "button";
    ask.textContent = "Allow notifications";
    ask.addEventListener("click", function () {
      Notification.requestPermission().then(settle);
    });
    holder.textContent = "";
    holder.appendChild(ask);
  } else {
    settle(Notification.permission);
  }
})();
