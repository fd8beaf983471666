// The feed page, progressively enhanced. Without this script the page works:
// "Show More" is a link to the next page and video players are links. With it:
// "Show More" loads the next page in place, new items appear at the top as
// they are published (Server-Sent Events), updated items are refreshed,
// killed ones disappear, video embeds load when clicked, and times are shown
// in the reader's time zone. HTML from the server is parsed with DOMParser
// (which never runs scripts) and only the gateway's own fragments are used.
(function () {
  "use strict";

  var FRAME_SANDBOX = "allow-scripts allow-same-origin allow-presentation";
  var feed = document.getElementById("feed");
  var status = document.getElementById("live-status");
  var parser = new DOMParser();
  var removed = new Map(); // uri -> version of the kill we applied
  var timeFormat = null;
  try {
    timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  } catch (e) {
    timeFormat = null;
  }

  function announce(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function localizeTimes(root) {
    if (!timeFormat) {
      return;
    }
    root.querySelectorAll("time[datetime]").forEach(function (node) {
      var when = new Date(node.getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        node.textContent = timeFormat.format(when);
      }
    });
  }

  function findItem(uri) {
    if (!feed) {
      return null;
    }
    for (var i = 0; i < feed.children.length; i++) {
      if (feed.children[i].dataset.uri === uri) {
        return feed.children[i];
      }
    }
    return null;
  }

  function fetchDocument(url) {
    return fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin", cache: "no-cache" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (text) {
        return text === null ? null : parser.parseFromString(text, "text/html");
      })
      .catch(function () {
        return null;
      });
  }

  function adopt(node) {
    var copy = document.importNode(node, true);
    localizeTimes(copy);
    return copy;
  }

  function markNew(node) {
    node.classList.add("is-new");
    window.setTimeout(function () {
      node.classList.add("settled");
    }, 50);
  }

  // Put a fresh <li> where it belongs: in place of its old self, or by its
  // feed position among the items shown (newest first).
  function place(node) {
    var current = findItem(node.dataset.uri);
    if (current) {
      current.replaceWith(node);
      return false;
    }
    var position = Number(node.dataset.position);
    for (var i = 0; i < feed.children.length; i++) {
      if (Number(feed.children[i].dataset.position) < position) {
        feed.insertBefore(node, feed.children[i]);
        markNew(node);
        return true;
      }
    }
    if (!document.querySelector("a.show-more")) {
      feed.appendChild(node);
      markNew(node);
      return true;
    }
    return false; // older than everything shown: "Show More" will bring it
  }

  // Live events are not fetched one by one: a burst would send thousands of
  // requests. Items named by events are collected, and one request fetches all
  // that arrived since the last one, at most one request every FETCH_GAP_MS.
  // More than a fetch may name, or a reset: the first page is fetched instead.
  var FETCH_GAP_MS = 400;
  var FETCH_MAX = 50; // the gateway's /fragments/items bound
  var wanted = new Map(); // uri -> {version, onlyIfShown}
  var wholePage = false;
  var fetching = false;
  var timer = null;
  var lastFetch = 0;

  function want(data, onlyIfShown) {
    var seen = wanted.get(data.uri);
    wanted.set(data.uri, {
      version: data.version,
      onlyIfShown: seen ? seen.onlyIfShown && onlyIfShown : onlyIfShown,
    });
    schedule();
  }

  function schedule() {
    if (fetching || timer !== null || (wanted.size === 0 && !wholePage)) {
      return;
    }
    timer = window.setTimeout(fetchWanted, Math.max(0, lastFetch + FETCH_GAP_MS - Date.now()));
  }

  function fetchWanted() {
    timer = null;
    var batch = wanted;
    var uris = [];
    wanted = new Map();
    batch.forEach(function (entry, uri) {
      if (!entry.onlyIfShown || findItem(uri)) {
        uris.push(uri);
      }
    });
    var page = wholePage || uris.length > FETCH_MAX;
    wholePage = false;
    if (!page && uris.length === 0) {
      return;
    }
    var url = page
      ? feed.dataset.fragmentFeed + window.location.search
      : feed.dataset.fragmentItems + "?" + uris.map(function (uri) {
          return "uri=" + encodeURIComponent(uri);
        }).join("&");
    fetching = true;
    lastFetch = Date.now();
    fetchDocument(url).then(function (doc) {
      fetching = false;
      var added = 0;
      var headline = null;
      if (doc) {
        doc.querySelectorAll("ol.feed > li.feed-item").forEach(function (item) {
          var uri = item.dataset.uri;
          var entry = batch.get(uri);
          var killed = removed.get(uri);
          if (killed !== undefined && (!entry || killed >= entry.version)) {
            return; // withdrawn since it was asked for
          }
          if (!page && !entry) {
            return;
          }
          if (place(adopt(item))) {
            added += 1;
            headline = headline || (item.querySelector(".headline") || item).textContent.trim();
          }
        });
      }
      if (added === 1) {
        announce("New: " + headline);
      } else if (added > 1) {
        announce(added + " new items.");
      }
      schedule();
    });
  }

  function removeItem(data) {
    removed.set(data.uri, data.version);
    var node = findItem(data.uri);
    if (node) {
      node.remove();
      announce("An item was withdrawn from the feed.");
    }
  }

  function showMore(link) {
    link.setAttribute("aria-busy", "true");
    fetchDocument(link.dataset.fragment).then(function (doc) {
      if (!doc) {
        window.location.href = link.href; // fall back to the plain link
        return;
      }
      var added = 0;
      var first = null;
      doc.querySelectorAll("ol.feed > li.feed-item").forEach(function (item) {
        if (!findItem(item.dataset.uri) && !removed.has(item.dataset.uri)) {
          var node = adopt(item);
          feed.appendChild(node);
          first = first || node;
          added += 1;
        }
      });
      var nav = link.closest("nav");
      var next = doc.querySelector("nav.more");
      if (next) {
        nav.replaceWith(document.importNode(next, true));
      } else {
        nav.remove();
      }
      announce(added + (added === 1 ? " more item" : " more items") + " loaded.");
      var heading = first && first.querySelector(".headline a, a.permalink");
      if (heading) {
        heading.focus({ preventScroll: true });
      }
    });
  }

  function loadEmbed(link) {
    var figure = link.closest("figure.embed");
    var src = figure && figure.dataset.embedSrc;
    if (!src || src.indexOf("https://") !== 0) {
      return;
    }
    var frame = document.createElement("iframe");
    frame.src = src;
    frame.title = figure.dataset.embedTitle || "Embedded video";
    frame.setAttribute("sandbox", FRAME_SANDBOX);
    frame.setAttribute("allow", "fullscreen; picture-in-picture");
    frame.setAttribute("allowfullscreen", "");
    frame.referrerPolicy = "strict-origin-when-cross-origin";
    figure.replaceChildren(frame);
    frame.focus();
  }

  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) {
      return;
    }
    var target = event.target instanceof Element ? event.target : null;
    var more = target && target.closest("a.show-more");
    if (more && more.dataset.fragment && feed) {
      event.preventDefault();
      showMore(more);
      return;
    }
    var embed = target && target.closest("a.embed-load");
    if (embed) {
      event.preventDefault();
      loadEmbed(embed);
    }
  });

  localizeTimes(document);

  var streamUrl = feed && feed.dataset.stream;
  if (!streamUrl || !("EventSource" in window)) {
    return;
  }
  var source = new EventSource(streamUrl);
  function listen(type, handler) {
    source.addEventListener(type, function (event) {
      var data;
      try {
        data = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      handler(data);
    });
  }
  listen("published", function (data) {
    if (data.version > (removed.get(data.uri) || 0)) {
      removed.delete(data.uri);
    }
    want(data, false);
  });
  listen("updated", function (data) {
    want(data, true);
  });
  listen("killed", function (data) {
    wanted.delete(data.uri);
    removeItem(data);
  });
  listen("reset", function () {
    // Too much was missed to replay: bring the first page up to date.
    wholePage = true;
    schedule();
  });
  source.addEventListener("open", function () {
    document.documentElement.dataset.live = "open";
  });
})();
