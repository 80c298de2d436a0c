package io.livemig.examples;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** livemig-bom lists every published module, at the parent's version, and pins nothing else. */
class BomTest {

    private static final Path ROOT = Path.of("..");
    private static final Pattern VERSION = Pattern.compile("<artifactId>([^<]+)</artifactId>\\s*<version>([^<]+)</version>");
    private static final Pattern MODULE = Pattern.compile("<module>([^<]+)</module>");
    private static final Pattern MANAGED = Pattern.compile(
            "<dependency><groupId>([^<]+)</groupId><artifactId>([^<]+)</artifactId>");
    /**
     * Modules that are not published: the BOM itself, the benchmarks, the command line and the
     * control-plane example (a user's project built against the BOM).
     */
    private static final List<String> UNPUBLISHED = List.of("livemig-bom", "livemig-bench", "examples",
            "examples/control-plane");

    private static String version(String pom, String artifactId) {
        Matcher m = VERSION.matcher(pom);
        while (m.find()) {
            if (m.group(1).equals(artifactId)) {
                return m.group(2);
            }
        }
        throw new AssertionError("no version for " + artifactId);
    }

    @Test
    void theBomListsEveryPublishedModuleAtTheParentsVersionAndNothingElse() throws Exception {
        String parent = Files.readString(ROOT.resolve("pom.xml"));
        String bom = Files.readString(ROOT.resolve("livemig-bom/pom.xml"));
        assertEquals(version(parent, "livemig-parent"), version(bom, "livemig-bom"), "the BOM's version");
        assertFalse(bom.contains("<parent>"), "the BOM must not inherit the parent's dependencyManagement");

        List<String> published = new ArrayList<>();
        Matcher modules = MODULE.matcher(parent);
        while (modules.find()) {
            if (!UNPUBLISHED.contains(modules.group(1))) {
                published.add(modules.group(1));
            }
        }
        List<String> managed = new ArrayList<>();
        Matcher dependencies = MANAGED.matcher(bom);
        while (dependencies.find()) {
            assertEquals("io.livemig", dependencies.group(1), "the BOM pins only livemig's own modules");
            managed.add(dependencies.group(2));
        }
        assertEquals(published.stream().sorted().toList(), managed.stream().sorted().toList());
    }
}
