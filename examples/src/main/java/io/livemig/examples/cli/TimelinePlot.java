package io.livemig.examples.cli;

import io.livemig.api.ByteSize;
import io.livemig.api.DiskStats;
import io.livemig.api.DiskSyncReport;
import io.livemig.api.MigrationReport;
import io.livemig.api.RoundStats;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.DatasetRenderingOrder;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.StandardXYBarPainter;
import org.jfree.chart.renderer.xy.XYBarRenderer;
import org.jfree.chart.renderer.xy.XYItemRenderer;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.text.TextUtils;
import org.jfree.chart.title.TextTitle;
import org.jfree.chart.ui.Layer;
import org.jfree.chart.ui.RectangleAnchor;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import org.jfree.svg.SVGGraphics2D;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Paint;
import java.awt.geom.Rectangle2D;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;

/**
 * {@code --plot}: a finished migration's timeline as a chart, written as SVG (JFreeSVG) or PNG
 * (ImageIO), drawn by JFreeChart without a display ({@code java.awt.headless}).
 *
 * <p>A migration's chart ({@link #migration}) takes its figures from the report, one point per
 * round, in four panels over the round number: the bytes each round put on the wire and left
 * dirty (MB), the send and dirty rates (MB/s, with the bandwidth cap), the expected downtime (ms,
 * with the limit in force and the measured downtime) and the vCPU throttle (%). Its title holds
 * the strategy, the VM's size and the downtime; post-copy's fault figures and the escalations are
 * subtitles. A disk sync's chart ({@link #diskSync}) has no rounds: it plots the bytes sent and the
 * send rate over time, from samples the command took while it ran.
 *
 * <p>Sizes are in MB (10<sup>6</sup> bytes). Stateless.
 */
final class TimelinePlot {

    static {
        System.setProperty("java.awt.headless", "true");
        // Rotated labels (the value axes') drawn as text, not as glyph outlines: SVG keeps them as words.
        TextUtils.setUseDrawRotatedStringWorkaround(false);
    }

    /** Width and height of the image, in pixels (PNG) or user units (SVG). */
    static final int WIDTH = 1000;
    private static final int MIGRATION_HEIGHT = 1000;
    private static final int DISK_HEIGHT = 560;

    private static final double MB = 1e6;
    private static final Font TITLE_FONT = new Font(Font.SANS_SERIF, Font.BOLD, 17);
    private static final Font SUBTITLE_FONT = new Font(Font.SANS_SERIF, Font.PLAIN, 13);
    private static final Font LABEL_FONT = new Font(Font.SANS_SERIF, Font.PLAIN, 13);
    private static final Font MARKER_FONT = new Font(Font.SANS_SERIF, Font.PLAIN, 12);

    private static final Color BLUE = new Color(0x1f77b4);
    private static final Color ORANGE = new Color(0xff7f0e);
    private static final Color GREEN = new Color(0x2ca02c);
    private static final Color RED = new Color(0xd62728);
    private static final Color PURPLE = new Color(0x9467bd);
    private static final Color GREY = new Color(0x555555);

    private TimelinePlot() {
    }

    /** The file formats {@code --plot} writes, by the file's extension. */
    enum Format {
        SVG, PNG;

        /**
         * @param file the file to write
         * @return its format, from its extension ({@code .svg} or {@code .png}, any case)
         * @throws IllegalArgumentException for another extension
         */
        static Format of(Path file) {
            String name = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
            if (name.endsWith(".svg")) {
                return SVG;
            }
            if (name.endsWith(".png")) {
                return PNG;
            }
            throw new IllegalArgumentException("'" + file + "' must end in .svg or .png");
        }
    }

    /**
     * @param r             the migration's report
     * @param downtimeLimit the downtime limit in force at the end (the ladder may have raised it)
     * @param bandwidthCapBytesPerSecond the bandwidth cap, 0 for none
     * @return the chart of its rounds
     */
    static JFreeChart migration(MigrationReport r, Duration downtimeLimit, long bandwidthCapBytesPerSecond) {
        XYSeries sent = new XYSeries("sent in the round (MB)");
        XYSeries left = new XYSeries("left dirty at its end (MB)");
        XYSeries bandwidth = new XYSeries("send rate (MB/s)");
        XYSeries dirty = new XYSeries("guest dirty rate (MB/s)");
        XYSeries expected = new XYSeries("expected downtime (ms)");
        XYSeries throttle = new XYSeries("vCPU throttle (%)");
        for (RoundStats s : r.rounds()) {
            sent.add(s.round(), s.bytesOnWire() / MB);
            left.add(s.round(), s.remainingBytes() / MB);
            bandwidth.add(s.round(), s.bandwidthBytesPerSecond() / MB);
            dirty.add(s.round(), s.dirtyRateBytesPerSecond() / MB);
            expected.add(s.round(), millis(s.expectedDowntime()));
            throttle.add(s.round(), s.throttlePercent());
        }
        NumberAxis rounds = new NumberAxis(r.strategy() == io.livemig.api.Strategy.PRECOPY
                ? "round (round 0 sends all of memory, each next one what the guest dirtied meanwhile; the last runs "
                + "with the VM paused)" : "round");
        rounds.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        rounds.setRange(-0.6, Math.max(1, r.rounds().size()) - 0.4);
        rounds.setLabelFont(LABEL_FONT);
        CombinedDomainXYPlot plot = new CombinedDomainXYPlot(rounds);
        plot.setGap(14);

        XYPlot bytes = panel(bars(sent, BLUE), "bytes (MB)");
        addLines(bytes, 1, lines(left, ORANGE));
        plot.add(bytes, 3);

        XYPlot rates = panel(lines(bandwidth, GREEN), "rate (MB/s)");
        addLines(rates, 1, lines(dirty, RED));
        if (bandwidthCapBytesPerSecond > 0) {
            rates.addRangeMarker(marker(bandwidthCapBytesPerSecond / MB,
                    String.format(Locale.ROOT, "bandwidth cap %.0f MB/s", bandwidthCapBytesPerSecond / MB), GREEN,
                    true));
            double highest = Math.max(bandwidth.getItemCount() == 0 ? 0 : bandwidth.getMaxY(),
                    dirty.getItemCount() == 0 ? 0 : dirty.getMaxY());
            rates.getRangeAxis().setRange(0, Math.max(highest, bandwidthCapBytesPerSecond / MB) * 1.12);
        }
        plot.add(rates, 3);

        plot.add(downtimePanel(r, downtimeLimit, expected), 2);

        XYPlot throttled = panel(lines(throttle, GREY), "throttle (%)");
        throttled.getRangeAxis().setRange(0, 100);
        plot.add(throttled, 1);

        JFreeChart chart = new JFreeChart(migrationTitle(r, downtimeLimit), TITLE_FONT, plot, true);
        chart.addSubtitle(subtitle(String.format(Locale.ROOT, "%s on the wire, %s, migration %s",
                megabytes(r.totals().bytesOnWire()), r.verified() ? "verified page for page"
                        : "verification " + r.verification().outcome().name().toLowerCase(Locale.ROOT),
                r.migrationId().isEmpty() ? "(no id)" : r.migrationId())));
        r.postcopy().ifPresent(p -> chart.addSubtitle(subtitle(String.format(Locale.ROOT,
                "post-copy: %,d demand faults, %,d pages pulled, %,d pushed, %,d races, fault latency p50 %.2f ms, "
                        + "p99 %.2f ms%s", p.demandFaults(), p.pagesPulled(), p.pagesPushed(), p.requestRaces(),
                millis(p.faultLatencyP50()), millis(p.faultLatencyP99()),
                p.recovered() ? ", link recovered " + p.recoveries() + "x" : ""))));
        if (!r.escalations().isEmpty()) {
            chart.addSubtitle(subtitle("not converging: " + String.join("; ", r.escalations())));
        }
        return styled(chart);
    }

    /**
     * @param image   the image file that was synced
     * @param sizeBytes the image's size
     * @param r       the sync's report
     * @param samples the bytes sent over time, taken while it ran (may be empty: then only the end)
     * @return the chart of the bytes sent and the send rate over time
     */
    static JFreeChart diskSync(Path image, long sizeBytes, DiskSyncReport r, List<DiskSample> samples) {
        XYSeries sent = new XYSeries("sent so far (MB)");
        XYSeries rate = new XYSeries("send rate (MB/s)");
        sent.add(0, 0);
        DiskSample previous = new DiskSample(Duration.ZERO, 0);
        for (DiskSample s : samples) {
            sent.add(seconds(s.elapsed()), s.bytes() / MB);
            double dt = seconds(s.elapsed()) - seconds(previous.elapsed());
            if (dt > 0) {
                rate.add(seconds(s.elapsed()), (s.bytes() - previous.bytes()) / MB / dt);
            }
            previous = s;
        }
        sent.add(seconds(r.totalTime()), r.bytesOnWire() / MB);
        NumberAxis time = new NumberAxis("time since the start (s)");
        time.setLabelFont(LABEL_FONT);
        XYPlot plot = panel(lines(sent, BLUE), "sent (MB)");
        plot.setDomainAxis(time);
        NumberAxis rateAxis = new NumberAxis("rate (MB/s)");
        rateAxis.setLabelFont(LABEL_FONT);
        plot.setRangeAxis(1, rateAxis);
        addLines(plot, 1, lines(rate, GREEN));
        plot.mapDatasetToRangeAxis(1, 1);
        DiskStats d = r.disk();
        String title = String.format(Locale.ROOT, "disk sync of %s (%s): %s, %,d blocks sent in %.1f s", image,
                new ByteSize(sizeBytes), d.sync().name().toLowerCase(Locale.ROOT).replace('_', ' '),
                d.blocksSent() + d.zeroBlocksSent(), seconds(r.totalTime()));
        JFreeChart chart = new JFreeChart(title, TITLE_FONT, plot, true);
        chart.addSubtitle(subtitle(String.format(Locale.ROOT, "%s on the wire, %,d blocks unchanged, verification %s",
                megabytes(r.bytesOnWire()), d.blocksUnchanged(),
                r.verification().outcome().name().toLowerCase(Locale.ROOT))));
        return styled(chart);
    }

    /**
     * Bytes a disk sync had sent at a moment.
     *
     * @param elapsed time since the start
     * @param bytes   bytes sent by then
     */
    record DiskSample(Duration elapsed, long bytes) {
    }

    /**
     * Writes {@code chart} to {@code file}, SVG or PNG by its extension, replacing it.
     *
     * @throws IOException              if the file cannot be written
     * @throws IllegalArgumentException if the extension is neither
     */
    static void write(JFreeChart chart, Path file) throws IOException {
        int height = chart.getPlot() instanceof CombinedDomainXYPlot ? MIGRATION_HEIGHT : DISK_HEIGHT;
        switch (Format.of(file)) {
            case SVG -> {
                SVGGraphics2D g = new SVGGraphics2D(WIDTH, height);
                chart.draw(g, new Rectangle2D.Double(0, 0, WIDTH, height));
                Files.writeString(file, g.getSVGDocument(), StandardCharsets.UTF_8);
            }
            case PNG -> ChartUtils.saveChartAsPNG(file.toFile(), chart, WIDTH, height);
        }
    }

    /**
     * The expected downtime per round against the limit and the measured downtime; on a log
     * scale when the first rounds expect far more than the limit (then a round expecting none,
     * the last, has no point).
     */
    private static XYPlot downtimePanel(MigrationReport r, Duration downtimeLimit, XYSeries expected) {
        double limit = millis(downtimeLimit);
        double measured = millis(r.switchover().downtime());
        double top = Math.max(expected.getItemCount() == 0 ? 0 : expected.getMaxY(), Math.max(measured, limit));
        boolean log = top > 20 * limit;
        XYPlot downtime;
        if (log) {
            XYSeries positive = new XYSeries(expected.getKey());
            for (int i = 0; i < expected.getItemCount(); i++) {
                double y = expected.getY(i).doubleValue();
                positive.add(expected.getX(i), y > 0 ? y : null);
            }
            downtime = panel(lines(positive, PURPLE), "downtime (ms, log scale)");
            LogAxis axis = new LogAxis("downtime (ms, log scale)");
            axis.setLabelFont(LABEL_FONT);
            axis.setBase(10);
            axis.setStandardTickUnits(NumberAxis.createIntegerTickUnits()); // ticks at powers of 10
            axis.setMinorTickMarksVisible(true);
            axis.setNumberFormatOverride(new java.text.DecimalFormat("#,##0.#"));
            axis.setRange(Math.max(0.1, Math.min(measured > 0 ? measured : limit, limit) / 2), top * 2);
            downtime.setRangeAxis(axis);
        } else {
            downtime = panel(lines(expected, PURPLE), "downtime (ms)");
            downtime.getRangeAxis().setRange(0, top * 1.15 + 1);
        }
        downtime.addRangeMarker(marker(limit, String.format(Locale.ROOT, "downtime limit %.0f ms", limit), GREY, true),
                Layer.FOREGROUND);
        if (measured > 0) {
            downtime.addRangeMarker(marker(measured, String.format(Locale.ROOT, "measured downtime %.1f ms", measured),
                    RED, false), Layer.FOREGROUND);
        }
        return downtime;
    }

    /**
     * Draws a migration's chart into {@code file} (see {@link #migration}), or says on {@code err}
     * why it could not, in one line.
     *
     * @param command the command, for the line, e.g. {@code "livemig demo"}
     * @return whether the file was written
     */
    static boolean writeMigration(MigrationReport r, Duration downtimeLimit, long bandwidthCapBytesPerSecond, Path file,
                                  String command, java.io.PrintStream err) {
        try {
            write(migration(r, downtimeLimit, bandwidthCapBytesPerSecond), file);
            return true;
        } catch (IOException | RuntimeException e) {
            err.println(command + ": cannot write the plot " + file + ": " + e.getMessage());
            return false;
        }
    }

    private static String migrationTitle(MigrationReport r, Duration limit) {
        return String.format(Locale.ROOT, "%s migration of %s: %s, downtime %.1f ms (limit %.0f ms), %.1f s, %d round%s",
                r.strategy().name().toLowerCase(Locale.ROOT), new ByteSize(r.memoryBytes()),
                r.status().name().toLowerCase(Locale.ROOT), millis(r.switchover().downtime()), millis(limit),
                seconds(r.totals().totalTime()), r.totals().roundCount(), r.totals().roundCount() == 1 ? "" : "s");
    }

    private static XYPlot panel(XYItemRenderer renderer, String unit, XYSeriesCollection data) {
        NumberAxis axis = new NumberAxis(unit);
        axis.setLabelFont(LABEL_FONT);
        axis.setAutoRangeIncludesZero(true);
        XYPlot plot = new XYPlot(data, null, axis, renderer);
        plot.setDatasetRenderingOrder(DatasetRenderingOrder.FORWARD); // lines over bars
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(new Color(0xdddddd));
        plot.setRangeGridlinePaint(new Color(0xdddddd));
        return plot;
    }

    private static XYPlot panel(Rendered r, String unit) {
        return panel(r.renderer(), unit, r.data());
    }

    private static void addLines(XYPlot plot, int index, Rendered r) {
        plot.setDataset(index, r.data());
        plot.setRenderer(index, r.renderer());
    }

    /** A series with the renderer that draws it. */
    private record Rendered(XYSeriesCollection data, XYItemRenderer renderer) {
    }

    private static Rendered bars(XYSeries series, Paint paint) {
        XYSeriesCollection data = new XYSeriesCollection(series);
        data.setIntervalWidth(0.6);
        XYBarRenderer renderer = new XYBarRenderer();
        renderer.setBarPainter(new StandardXYBarPainter());
        renderer.setShadowVisible(false);
        renderer.setSeriesPaint(0, paint);
        return new Rendered(data, renderer);
    }

    private static Rendered lines(XYSeries series, Paint paint) {
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, series.getItemCount() < 80);
        renderer.setSeriesPaint(0, paint);
        renderer.setSeriesStroke(0, new BasicStroke(2f));
        return new Rendered(new XYSeriesCollection(series), renderer);
    }

    /** A dashed horizontal line with its label above it, at the right or the left end. */
    private static ValueMarker marker(double value, String label, Paint paint, boolean right) {
        ValueMarker m = new ValueMarker(value, paint, new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER,
                10f, new float[] {6f, 4f}, 0f));
        m.setLabel(label);
        m.setLabelFont(MARKER_FONT);
        m.setLabelPaint(paint);
        m.setLabelAnchor(right ? RectangleAnchor.TOP_RIGHT : RectangleAnchor.TOP_LEFT);
        m.setLabelTextAnchor(right ? TextAnchor.BOTTOM_RIGHT : TextAnchor.BOTTOM_LEFT);
        m.setLabelBackgroundColor(new Color(255, 255, 255, 200));
        return m;
    }

    private static TextTitle subtitle(String text) {
        return new TextTitle(text, SUBTITLE_FONT);
    }

    private static JFreeChart styled(JFreeChart chart) {
        chart.setBackgroundPaint(Color.WHITE);
        chart.setAntiAlias(true);
        chart.setTextAntiAlias(true);
        if (chart.getLegend() != null) {
            chart.getLegend().setItemFont(LABEL_FONT);
        }
        return chart;
    }

    private static String megabytes(long bytes) {
        return String.format(Locale.ROOT, "%,.1f MB", bytes / MB);
    }

    private static double millis(Duration d) {
        return d.toNanos() / 1e6;
    }

    private static double seconds(Duration d) {
        return d.toNanos() / 1e9;
    }
}
