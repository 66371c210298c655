/* Style functions, event handlers and clientside callbacks of the map.
   Layer functions are referenced from Python as {"variable": "hotspots.<name>"}
   (dash-leaflet resolves them on window); clientside callbacks live under
   window.dash_clientside.hotspots. Text from the data is only ever set with
   textContent, never as HTML. */
/* The hexagons are drawn on a canvas (thousands of cells draw several times
   faster than as SVG paths); every other layer stays SVG. Leaflet gives each
   pane its own renderer: the "hexes" pane gets a canvas one. Other panes' SVG
   roots let pointer events through, so hexagons keep their tooltips. */
(function canvasHexes() {
    function patch() {
        var L = window.L;
        if (!L || !L.Map) { return false; }
        if (L.Map.prototype._hsCanvasHexes) { return true; }
        var orig = L.Map.prototype._getPaneRenderer;
        L.Map.prototype._getPaneRenderer = function (name) {
            if (name === "hexes" && this._paneRenderers &&
                    this._paneRenderers[name] === undefined) {
                this._paneRenderers[name] = L.canvas({pane: name, padding: 0.2});
            }
            return orig.call(this, name);
        };
        L.Map.prototype._hsCanvasHexes = true;
        return true;
    }
    if (!patch()) {
        var t = setInterval(function () { if (patch()) { clearInterval(t); } }, 10);
    }
})();

window.hotspots = Object.assign({}, window.hotspots, {
    // the bin palette comes from the package (hotspots.stats.inference.BIN_COLOURS)
    // through the layer's hideout, so print, partner file and app agree
    hexStyle: function (feature, context) {
        var b = feature.properties.bin;
        var h = context && (context.hideout || (context.props && context.props.hideout));
        var colours = (h && h.colours) || {};
        return {
            fillColor: colours[String(b)] || "#f2f2f2",
            color: "#777", weight: 0.3,
            fillOpacity: b === 0 ? 0.12 : 0.72
        };
    },
    wardStyle: function () {
        return {color: "#222", weight: 1.2, opacity: 0.8, fill: false};
    },
    wardHover: function () {
        return {weight: 3, color: "#000"};
    },
    zoneStyle: function () {
        return {color: "#6a00a8", weight: 3, dashArray: "6 4", fillColor: "#6a00a8",
                fillOpacity: 0.10};
    },
    highlightStyle: function () {
        return {color: "#00e5ff", weight: 4, fill: false};
    },
    siteToLayer: function (feature, latlng) {
        var r = feature.properties.radius || 150;
        var pane = "sites";
        return L.featureGroup([
            L.circle(latlng, {radius: r, color: "#1b7837", weight: 2,
                              fillOpacity: 0.08, pane: pane}),
            L.circleMarker(latlng, {radius: 5, color: "#1b7837", fillOpacity: 1,
                                    pane: pane})
        ]);
    },
    pointToLayer: function (feature, latlng) {
        var n = feature.properties.n || 1;
        return L.circleMarker(latlng, {
            radius: Math.min(2 + 1.5 * Math.sqrt(n), 14), color: "#333", weight: 0.5,
            fillColor: "#ffcc00", fillOpacity: 0.85, pane: "points"
        });
    },
    /* a ward or street name: a text label, not clickable, shown by zoom (CSS) */
    labelToLayer: function (feature, latlng) {
        var p = feature.properties;
        var span = document.createElement("span");
        span.textContent = p.label;
        var cls = "hs-label hs-label-" + p.kind;
        if (p.kind === "street") {
            cls += p.rank <= 3 ? " hs-label-major" : " hs-label-minor";
        }
        return L.marker(latlng, {
            icon: L.divIcon({className: cls, html: span, iconSize: null}),
            interactive: false, keyboard: false, pane: "labels"
        });
    },
    /* map container classes by zoom: labels show when there is room for them */
    onZoom: function (e) {
        var map = e.target, z = map.getZoom(), c = map.getContainer();
        window.hotspots.map = map;
        c.setAttribute("data-zoom", z);
        [12, 13, 14, 15, 16].forEach(function (k) {
            c.classList.toggle("hs-z" + k, z >= k);
        });
    },
    /* attribution only once a tile has actually loaded */
    onTileLoad: function (e) {
        var layer = e.target, map = layer._map;
        if (!map || layer._hsAttributed) { return; }
        var info = document.getElementById("tile-info");
        var text = info ? info.getAttribute("data-attribution") : "";
        if (text && map.attributionControl) {
            map.attributionControl.addAttribution(text);
        }
        layer._hsAttributed = true;
        map.getContainer().classList.add("hs-tiles-ok");
    },
    onTileError: function (e) {
        var map = e.target._map;
        if (map) { map.getContainer().classList.add("hs-tiles-failed"); }
    }
});

function hsSame(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

/* A packed polygon layer (dashboards.callbacks._pack_geometry) as GeoJSON:
   integer coordinates at 10^-p degrees, each the difference from the one before,
   closing points left out; nc / nr / np: points per ring, rings per polygon,
   polygons per feature (a number when all are the same, absent when all 1). A
   plain FeatureCollection (or null) passes through. */
function hsUnpack(d) {
    if (!d || !d.xy) { return d; }
    var scale = Math.pow(10, d.p), xy = d.xy, n = d.len, props = d.props || {};
    var keys = Object.keys(props);
    function at(v, i) {
        return v === undefined ? 1 : (typeof v === "number" ? v : v[i]);
    }
    var x = 0, y = 0, j = 0, ring = 0, poly = 0, feats = new Array(n);
    for (var f = 0; f < n; f++) {
        var polys = [], np = at(d.np, f);
        for (var q = 0; q < np; q++) {
            var rings = [], nr = at(d.nr, poly++);
            for (var r = 0; r < nr; r++) {
                var k = at(d.nc, ring++), pts = new Array(k + 1);
                for (var i = 0; i < k; i++) {
                    x += xy[j++]; y += xy[j++];
                    pts[i] = [x / scale, y / scale];
                }
                pts[k] = pts[0];
                rings.push(pts);
            }
            polys.push(rings);
        }
        var p = {};
        for (var c = 0; c < keys.length; c++) {
            var v = props[keys[c]][f];
            if (v !== null && v !== undefined) { p[keys[c]] = v; }
        }
        feats[f] = {type: "Feature", properties: p, geometry: polys.length === 1 ?
            {type: "Polygon", coordinates: polys[0]} :
            {type: "MultiPolygon", coordinates: polys}};
    }
    return {type: "FeatureCollection", features: feats};
}
window.hotspots.unpack = hsUnpack;

window.dash_clientside = Object.assign({}, window.dash_clientside, {
    hotspots: {
        /* Apply the server's answer for a view only if the controls still hold
           the values it answered for (a late answer to an old request is
           dropped; the answer to the newest request follows). */
        applyView: function (d, area, family, months, res, level, fdr) {
            var nu = window.dash_clientside.no_update;
            if (!d || !hsSame(d.key, [area, family, months, res, level, fdr])) {
                return [nu, nu, nu, nu, nu, nu, nu];
            }
            return [hsUnpack(d.hexes), d.wards === null ? nu : hsUnpack(d.wards),
                    d.banner, d.style, d.status,
                    d.viewport === null ? nu : d.viewport, d.title];
        },
        /* Once the hexagons of the current view are painted (two animation
           frames after they were set): say so, and hand the table its rows. */
        afterDraw: function (hexes, d, area, family, months, res, level, fdr) {
            var nu = window.dash_clientside.no_update;
            if (!d || !hsSame(d.key, [area, family, months, res, level, fdr])) {
                return [nu, nu];
            }
            return new Promise(function (resolve) {
                requestAnimationFrame(function () {
                    requestAnimationFrame(function () {
                        setTimeout(function () {
                            resolve([{key: d.key, t: Date.now()}, d.rows]);
                        }, 0);
                    });
                });
            });
        },
        /* The area box's text, once typing has paused for a moment and the box
           still holds it (a keystroke or a pick meanwhile cancels it). */
        debounceSearch: function (text) {
            var nu = window.dash_clientside.no_update;
            var seq = (window.hotspots.searchSeq || 0) + 1;
            window.hotspots.searchSeq = seq;
            if (!text || String(text).trim().length < 2) { return nu; }
            return new Promise(function (resolve) {
                setTimeout(function () {
                    var box = document.querySelector(".dash-dropdown-search");
                    var still = seq === window.hotspots.searchSeq && box &&
                        box.value === text;
                    resolve(still ? text : nu);
                }, 250);
            });
        },
        applyTasking: function (d, area, family, months, res, level, fdr, hours,
                                cams, radius) {
            var nu = window.dash_clientside.no_update;
            if (!d || !hsSame(d.key, [area, family, months, res, level, fdr,
                                      hours, cams, radius])) {
                return [nu, nu, nu, nu];
            }
            return [d.zones, d.sites, d.rows, d.note];
        },
        /* Ask the server for the offence points only while their overlay is on;
           with it off, make no request and clear the layer once. */
        pointsRequest: function (area, family, months, res, level, fdr, overlays,
                                 prev) {
            var nu = window.dash_clientside.no_update;
            var on = (overlays || []).indexOf("Offence points") >= 0;
            if (!on) {
                if (prev && prev.on) { return [null, {on: false}]; }
                return [nu, nu];
            }
            return [nu, {on: true, area: area, t: Date.now()}];
        }
    }
});
