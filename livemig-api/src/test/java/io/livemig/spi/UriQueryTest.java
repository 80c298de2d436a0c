package io.livemig.spi;

import org.junit.jupiter.api.Test;

import java.net.URI;
import java.time.Duration;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class UriQueryTest {

    private static final Set<String> KEYS = Set.of("size", "wait", "vcpus", "on", "off", "file", "mode", "ratio");

    private static UriQuery parse(String uri) {
        return UriQuery.parse(URI.create(uri), "demo", KEYS);
    }

    private enum Mode { FAST, SLOW }

    @Test
    void opaqueUriGivesItsTargetAndParameters() {
        UriQuery q = parse("demo:vm1?size=64M&vcpus=2");
        assertEquals("vm1", q.target());
        assertEquals(Map.of("size", "64M", "vcpus", "2"), q.asMap());
        assertEquals(64L << 20, q.sizeBytes("size", 0));
        assertEquals(2, q.intValue("vcpus", 1));
    }

    @Test
    void hierarchicalUriGivesItsPathAsTarget() {
        UriQuery q = parse("demo:/boot/kernel%20v2?size=1G");
        assertEquals("/boot/kernel v2", q.target());
        assertEquals(1L << 30, q.requireSizeBytes("size"));
    }

    @Test
    void aUriWithoutQueryOrTargetHasNeither() {
        assertEquals(Map.of(), parse("demo:?").asMap());
        assertEquals("", parse("demo:?").target());
        assertEquals("x", parse("demo:x").target());
        assertEquals(Map.of(), parse("demo:x?&&").asMap());
    }

    @Test
    void keysAndValuesArePercentDecodedAndPlusStaysAPlus() {
        UriQuery q = parse("demo:?file=%2Ftmp%2Fa%26b%3Dc+d%C3%A9");
        assertEquals("/tmp/a&b=c+dé", q.require("file"));
    }

    @Test
    void defaultsApplyOnlyToMissingKeys() {
        UriQuery q = parse("demo:x?vcpus=3");
        assertEquals(7, q.sizeBytes("size", 7));
        assertEquals(Duration.ofSeconds(2), q.duration("wait", Duration.ofSeconds(2)));
        assertEquals("d", q.get("file", "d"));
        assertTrue(q.get("file").isEmpty());
        assertFalse(q.has("size"));
        assertTrue(q.has("vcpus"));
    }

    @Test
    void durationsTakeUnitsBareMillisecondsAndIso() {
        assertEquals(Duration.ofMillis(250), parse("demo:?wait=250ms").requireDuration("wait"));
        assertEquals(Duration.ofSeconds(90), parse("demo:?wait=1m30s").requireDuration("wait"));
        assertEquals(Duration.ofMillis(1500), parse("demo:?wait=1.5s").requireDuration("wait"));
        assertEquals(Duration.ofMillis(300), parse("demo:?wait=300").requireDuration("wait"));
        assertEquals(Duration.ofSeconds(1), parse("demo:?wait=PT1S").requireDuration("wait"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> parse("demo:?wait=-1s").requireDuration("wait"));
        assertTrue(e.getMessage().contains("wait='-1s'"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> parse("demo:?wait=soon").requireDuration("wait"));
    }

    @Test
    void booleansTakeWordsDigitsAndABareKey() {
        UriQuery q = parse("demo:?on&off=no&mode=yes");
        assertTrue(q.booleanValue("on", false));
        assertFalse(q.booleanValue("off", true));
        assertTrue(q.booleanValue("mode", false));
        assertTrue(parse("demo:?on=TRUE").booleanValue("on", false));
        assertFalse(parse("demo:?on=0").booleanValue("on", true));
        assertThrows(IllegalArgumentException.class, () -> parse("demo:?on=maybe").booleanValue("on", false));
    }

    @Test
    void enumsIgnoreCaseAndListTheirConstantsWhenWrong() {
        assertEquals(Mode.SLOW, parse("demo:?mode=slow").enumValue("mode", Mode.class, Mode.FAST));
        assertEquals(Mode.FAST, parse("demo:?").enumValue("mode", Mode.class, Mode.FAST));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> parse("demo:?mode=medium").enumValue("mode", Mode.class, Mode.FAST));
        assertTrue(e.getMessage().contains("fast|slow"), e.getMessage());
    }

    @Test
    void numbersThatDoNotParseAreRefusedNamingTheKey() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> parse("demo:?vcpus=two").intValue("vcpus", 1));
        assertTrue(e.getMessage().contains("vcpus='two'") && e.getMessage().contains("demo:?vcpus=two"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> parse("demo:?size=lots").sizeBytes("size", 0));
        assertThrows(IllegalArgumentException.class, () -> parse("demo:?ratio=NaN").doubleValue("ratio", 0));
        assertEquals(0.25, parse("demo:?ratio=0.25").doubleValue("ratio", 0));
        assertEquals(-3, parse("demo:?size=-3").longValue("size", 0));
    }

    @Test
    void aMissingRequiredKeyIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse("demo:x").require("file"));
        assertTrue(e.getMessage().contains("'file'"), e.getMessage());
    }

    @Test
    void unknownKeysAreRefusedWithTheAcceptedOnesListed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> parse("demo:vm?sise=1G&vcpus=1&colour=red"));
        assertEquals("unknown demo: parameters 'colour', 'sise' in demo:vm?sise=1G&vcpus=1&colour=red; accepted: "
                + "file, mode, off, on, ratio, size, vcpus, wait", e.getMessage());
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
                () -> UriQuery.parse(URI.create("bare:x?a=1"), "bare", Set.of()));
        assertTrue(none.getMessage().endsWith("accepted: none"), none.getMessage());
    }

    @Test
    void aKeyGivenTwiceIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse("demo:?size=1&size=2"));
        assertTrue(e.getMessage().contains("'size' is given twice"), e.getMessage());
    }

    @Test
    void anotherSchemeOrAMalformedEscapeIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> UriQuery.parse(URI.create("other:x"), "demo", KEYS));
        assertThrows(IllegalArgumentException.class, () -> parse("demo:?file=%C3"));
        assertThrows(IllegalArgumentException.class, () -> parse("demo:?=1"));
        assertEquals("demo", UriQuery.parse(URI.create("DEMO:x"), "demo", KEYS).uri().getScheme().toLowerCase());
    }
}
