/* Style functions of the map layers, referenced from Python as
   {"variable": "hotspots.<name>"} (dash-leaflet resolves them on window). */
window.hotspots = Object.assign({}, window.hotspots, {
    colours: {
        "3": "#b2182b", "2": "#ef8a62", "1": "#fddbc7", "0": "#f4f4f4",
        "-1": "#d1e5f0", "-2": "#67a9cf", "-3": "#2166ac"
    },
    hexStyle: function (feature) {
        var b = feature.properties.bin;
        return {
            fillColor: window.hotspots.colours[String(b)] || "#f4f4f4",
            color: "#777", weight: 0.3,
            fillOpacity: b === 0 ? 0.12 : 0.72
        };
    },
    wardStyle: function () {
        return {color: "#222", weight: 1.2, opacity: 0.8, fill: true,
                fillOpacity: 0.0};
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
        var group = L.featureGroup([
            L.circle(latlng, {radius: r, color: "#1b7837", weight: 2,
                              fillOpacity: 0.08}),
            L.circleMarker(latlng, {radius: 5, color: "#1b7837", fillOpacity: 1})
        ]);
        return group;
    },
    pointToLayer: function (feature, latlng) {
        var n = feature.properties.n || 1;
        return L.circleMarker(latlng, {
            radius: Math.min(2 + 1.5 * Math.sqrt(n), 14), color: "#333", weight: 0.5,
            fillColor: "#ffcc00", fillOpacity: 0.85
        });
    }
});
