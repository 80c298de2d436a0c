package io.livemig.engine.internal;

import io.livemig.spi.HypervisorProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/**
 * Finds the {@link HypervisorProvider} for a URI scheme, in the manner of SLF4J 2's binding
 * discovery: every provider on the path is probed in isolation (one that fails to load or
 * reports another SPI version is skipped with a warning), an explicit choice through the system
 * property {@code livemig.provider.<scheme>} wins, ambiguity is warned about, and failure lists
 * every probe's result rather than falling back silently.
 */
public final class ProviderRegistry {

    private static final Logger LOG = LoggerFactory.getLogger(ProviderRegistry.class);

    private ProviderRegistry() {
    }

    /**
     * @param scheme a URI scheme, e.g. {@code "kvm"}
     * @return the provider for it
     * @throws IllegalArgumentException if none serves it; the message lists what was probed
     */
    public static HypervisorProvider find(String scheme) {
        String wanted = scheme.toLowerCase(Locale.ROOT);
        String explicit = System.getProperty("livemig.provider." + wanted);
        List<String> probes = new ArrayList<>();
        List<HypervisorProvider> matches = new ArrayList<>();
        Iterator<HypervisorProvider> it = ServiceLoader.load(HypervisorProvider.class).iterator();
        while (true) {
            HypervisorProvider provider;
            try {
                if (!it.hasNext()) {
                    break;
                }
                provider = it.next();
            } catch (ServiceConfigurationError e) {
                LOG.warn("skipping a provider that failed to load: {}", e.getMessage());
                probes.add("failed to load: " + e.getMessage());
                continue;
            }
            String name = provider.getClass().getName();
            try {
                if (provider.apiVersion() != HypervisorProvider.API_VERSION) {
                    LOG.warn("skipping provider {}: built for SPI version {}, this is {}", name, provider.apiVersion(),
                            HypervisorProvider.API_VERSION);
                    probes.add(name + ": SPI version " + provider.apiVersion());
                    continue;
                }
                String served = provider.scheme();
                probes.add(name + ": scheme '" + served + "'");
                if (wanted.equals(served) && (explicit == null || explicit.equals(name))) {
                    matches.add(provider);
                }
            } catch (RuntimeException | LinkageError e) {
                LOG.warn("skipping provider {}: {}", name, e.toString());
                probes.add(name + ": failed: " + e);
            }
        }
        if (matches.isEmpty()) {
            throw new IllegalArgumentException("no livemig provider for scheme '" + wanted + "'"
                    + (explicit != null ? " with class " + explicit : "") + "; probed: "
                    + (probes.isEmpty() ? "none found on the path" : String.join("; ", probes)));
        }
        if (matches.size() > 1) {
            LOG.warn("several providers serve '{}': {}; using {} (set -Dlivemig.provider.{}=<class> to choose)",
                    wanted, matches.stream().map(p -> p.getClass().getName()).toList(),
                    matches.get(0).getClass().getName(), wanted);
        }
        return matches.get(0);
    }
}
