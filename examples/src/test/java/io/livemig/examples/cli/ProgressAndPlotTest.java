package io.livemig.examples.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.NodeList;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import javax.xml.parsers.DocumentBuilderFactory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --plot}, {@code --progress} and {@code --quiet} on the demo; the migration id in its summary. */
class ProgressAndPlotTest {

    /** What {@code livemig ARGS} printed. */
    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        InProcessCli.Captured c = InProcessCli.run(args);
        return new Run(c.exit(), c.out(), c.err());
    }

    @Test
    void plotSvgIsXmlWithTheUnitsOnTheAxesAndOneLegendEntryPerFigure(@TempDir Path dir) throws Exception {
        Path svg = dir.resolve("t.svg");
        Run r = run("demo", "--mem", "64M", "--dirty-rate", "20M", "--plot", svg.toString());
        assertEquals(0, r.exit(), r.toString());
        Document doc = parse(svg);
        assertEquals("svg", doc.getDocumentElement().getLocalName());
        List<String> texts = texts(doc);
        for (String axis : List.of("bytes (MB)", "rate (MB/s)", "downtime (ms", "throttle (%)")) {
            assertTrue(texts.stream().anyMatch(t -> t.startsWith(axis)), "no axis " + axis + " in " + texts);
        }
        for (String series : List.of("sent in the round (MB)", "left dirty at its end (MB)", "send rate (MB/s)",
                "guest dirty rate (MB/s)", "expected downtime (ms)", "vCPU throttle (%)")) {
            assertEquals(1, texts.stream().filter(series::equals).count(), "legend of " + series + ": " + texts);
        }
        assertTrue(texts.stream().anyMatch(t -> t.startsWith("precopy migration of 64M: completed, downtime ")),
                texts.toString());
        assertTrue(texts.stream().anyMatch(t -> t.startsWith("downtime limit 300 ms")), texts.toString());
    }

    @Test
    void plotPngIsAnImageOfTheChartsSize(@TempDir Path dir) throws Exception {
        Path png = dir.resolve("t.png");
        Run r = run("demo", "--virtual-time", "--mem", "64M", "--dirty-rate", "20M", "--link-bandwidth", "200M",
                "--plot", png.toString());
        assertEquals(0, r.exit(), r.toString());
        BufferedImage image = ImageIO.read(png.toFile());
        assertNotNull(image, "not a PNG");
        assertEquals(TimelinePlot.WIDTH, image.getWidth());
        assertTrue(image.getHeight() >= 500, "height " + image.getHeight());
    }

    @Test
    void aPlotFileOfAnotherKindIsRefusedInOneLineBeforeAnythingRuns(@TempDir Path dir) {
        Run r = run("demo", "--mem", "64M", "--plot", dir.resolve("t.jpg").toString());
        assertEquals(2, r.exit(), r.toString());
        List<String> lines = r.err().strip().lines().toList();
        assertTrue(lines.get(0).startsWith("livemig demo: --plot: ") && lines.get(0).contains("must end in .svg or .png"),
                r.err());
        assertEquals("see: livemig demo --help", lines.get(1));
        assertFalse(Files.exists(dir.resolve("t.jpg")));
        assertEquals("", r.out());
    }

    @Test
    void progressPrintsPlainLinesOffATerminalAndWithoutItStderrHasNone() {
        String[] demo = {"demo", "--virtual-time", "--mem", "256M", "--link-bandwidth", "100M", "--dirty-rate",
            "10M"};
        Run plain = run(demo);
        assertEquals(0, plain.exit(), plain.toString());
        assertFalse(plain.err().contains("progress "), plain.err());
        assertTrue(plain.err().contains("  round 0: "), plain.err());

        List<String> withProgress = new ArrayList<>(List.of(demo));
        withProgress.add("--progress");
        Run lines = run(withProgress.toArray(String[]::new));
        assertEquals(0, lines.exit(), lines.toString());
        // 256M at 100M/s is over 2 s of virtual time: several progress events at 200 ms.
        assertTrue(lines.err().lines().filter(l -> l.startsWith("progress live_copy round 0: ")).count() >= 3,
                lines.err());
        assertTrue(lines.err().contains("  round 0: "), lines.err());
    }

    @Test
    void quietPrintsNothingOnStderrAndTheSummaryNamesTheMigration() {
        Run r = run("demo", "--virtual-time", "--mem", "64M", "--link-bandwidth", "100M", "--quiet");
        assertEquals(0, r.exit(), r.toString());
        assertFalse(r.err().contains("round 0"), r.err());
        assertFalse(r.err().contains("progress"), r.err());
        assertTrue(r.out().lines().anyMatch(l -> l.matches("  migration id \\S+")), r.out());
    }

    @Test
    void quietAndProgressExcludeEachOther() {
        Run r = run("demo", "--quiet", "--progress");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("livemig demo: --quiet and --progress exclude each other"), r.err());
    }

    @Test
    void diskSendPlotsTheBytesItSentOverTime(@TempDir Path dir) throws Exception {
        Path source = dir.resolve("source.img");
        DiskCli.writeRandomImage(source, 4096, 1, 16);
        Path svg = dir.resolve("disk.svg");
        DiskCli.Sync sync = DiskCli.syncOk(source, dir.resolve("copy.img"), List.of(), "--plot", svg.toString());
        assertEquals("completed", sync.source().json().get("status"));
        List<String> texts = texts(parse(svg));
        for (String label : List.of("time since the start (s)", "sent (MB)", "rate (MB/s)", "sent so far (MB)",
                "send rate (MB/s)")) {
            assertTrue(texts.contains(label), "no " + label + " in " + texts);
        }
        assertTrue(texts.stream().anyMatch(t -> t.startsWith("disk sync of " + source + " (16M): new disk, ")),
                texts.toString());
    }

    private static Document parse(Path svg) throws Exception {
        DocumentBuilderFactory xml = DocumentBuilderFactory.newInstance();
        xml.setNamespaceAware(true);
        // The SVG 1.1 DOCTYPE names a DTD on the web: parse without fetching it.
        xml.setFeature("http://apache.org/xml/features/nonvalidating/load-external-dtd", false);
        return xml.newDocumentBuilder().parse(svg.toFile());
    }

    private static List<String> texts(Document doc) {
        NodeList nodes = doc.getElementsByTagNameNS("*", "text");
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < nodes.getLength(); i++) {
            texts.add(nodes.item(i).getTextContent().strip());
        }
        return texts;
    }
}
