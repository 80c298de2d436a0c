package io.livemig.engine;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationSecret;
import io.livemig.channel.Channel;
import io.livemig.channel.ChannelListener;
import io.livemig.channel.Reconnector;
import io.livemig.engine.internal.ProviderRegistry;
import io.livemig.engine.internal.VmClaims;
import io.livemig.engine.internal.destination.DestinationMigration;
import io.livemig.engine.internal.source.SourceMigration;
import io.livemig.spi.HypervisorProvider;
import io.livemig.spi.MigratableVm;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * livemig's entry point. On the source host, {@link #migrate} (blocking) or {@link #start}
 * (asynchronous, cancellable) moves a {@link MigratableVm} through a {@link Channel}; on the
 * destination host, {@link #receive} accepts it into a new target VM and resumes it there.
 *
 * <pre>{@code
 * // destination
 * try (TcpChannelListener listener = TcpChannelListener.bind(new InetSocketAddress(4444), Duration.ofSeconds(30));
 *      Channel channel = listener.accept(Duration.ofMinutes(1))) {
 *     ReceivedMigration received = LiveMigration.receive(channel, URI.create("kvm:?console=/tmp/vm.log"), options);
 * }
 * // source
 * try (MigratableVm vm = LiveMigration.open(URI.create("mem:?size=1G&workload=random&rate=50M"));
 *      Channel channel = TcpChannel.connect(new InetSocketAddress("dst", 4444), Duration.ofSeconds(5), Duration.ofSeconds(30))) {
 *     MigrationReport report = LiveMigration.migrate(vm, channel, options);
 * }
 * }</pre>
 *
 * <p>Providers are found with {@link java.util.ServiceLoader} by URI scheme; a broken provider
 * is skipped with a warning, one built for another SPI version too, and the system property
 * {@code livemig.provider.<scheme>} (a class name) picks one when several claim a scheme.
 *
 * <p>Thread-safe: every method may be called from any thread; each migration is independent.
 */
public final class LiveMigration {

    private LiveMigration() {
    }

    /**
     * Opens a running VM on this host, to migrate it.
     *
     * @param uri a provider URI such as {@code mem:?size=1G} or {@code kvm:...}
     * @return the VM handle, owned by the caller
     * @throws IllegalArgumentException if no provider serves the scheme (the message lists every
     *                                  provider probed and why it was not used) or the URI is malformed
     * @throws IOException              if the provider cannot open the VM
     */
    public static MigratableVm open(URI uri) throws IOException {
        return provider(uri).open(uri);
    }

    /**
     * {@return the provider that serves its scheme}
     *
     * @param uri a provider URI
     * @throws IllegalArgumentException if none does
     */
    public static HypervisorProvider provider(URI uri) {
        Objects.requireNonNull(uri.getScheme(), () -> "URI has no scheme: " + uri);
        return ProviderRegistry.find(uri.getScheme());
    }

    /**
     * Migrates {@code vm} through {@code channel}, blocking until the VM runs at the
     * destination (and verification ended, if on) or the migration failed.
     *
     * <p><b>One migration per VM.</b> The migration claims {@code vm} (by identity) before it
     * sends anything and releases the claim when it ends, however it ends. A second
     * {@code migrate} or {@link #start} of the same VM while one runs, and a migration of a
     * closed VM, are refused at once with an {@link IllegalStateException}: nothing is sent on
     * the channel, the channel stays open and the running migration is not disturbed.
     *
     * @param vm      the source VM; the migration owns it while it runs
     * @param channel a connected channel to a destination running {@link #receive}
     * @param options the options
     * @return the report
     * @throws MigrationException    if the migration failed or was cancelled (interrupting the
     *                               thread cancels it); {@link MigrationException#sourceState()}
     *                               says where the VM is
     * @throws IllegalStateException if {@code vm} is closed or another migration of it is running
     *                               (the message names the VM); nothing was sent
     */
    public static MigrationReport migrate(MigratableVm vm, Channel channel, MigrationOptions options)
            throws MigrationException {
        return migrate(vm, channel, Reconnector.NONE, options);
    }

    /**
     * As {@link #migrate(MigratableVm, Channel, MigrationOptions)}, with a way to replace the
     * channel if it breaks during post-copy (the VM's state is then split between the hosts, and
     * recovering over a new channel continues the migration with nothing lost). The old channel
     * is closed by the migration; the new ones are owned by the caller as the first one is.
     *
     * @param vm          the source VM; the migration owns it while it runs
     * @param channel     a connected channel to a destination running {@link #receive}
     * @param reconnector gives a new channel to the same destination after a break;
     *                    {@link Reconnector#NONE} for none
     * @param options     the options
     * @return the report
     * @throws MigrationException    if the migration failed or was cancelled;
     *                               {@link MigrationException#sourceState()} says where the VM is
     * @throws IllegalStateException if {@code vm} is closed or another migration of it is running
     */
    public static MigrationReport migrate(MigratableVm vm, Channel channel, Reconnector reconnector,
                                          MigrationOptions options) throws MigrationException {
        try (VmClaims.Claim claim = VmClaims.claim(vm)) {
            return new SourceMigration(vm, channel, reconnector, options).run();
        }
    }

    /**
     * Starts migrating {@code vm} on a new thread. The VM is claimed here, on the caller's
     * thread, and released when the migration's thread ends (see {@link #migrate} on one
     * migration per VM).
     *
     * @param vm      the source VM; the migration owns it while it runs
     * @param channel a connected channel to a destination running {@link #receive}
     * @param options the options
     * @return the running migration: cancel it, await it
     * @throws IllegalStateException if {@code vm} is closed or another migration of it is running
     *                               (the message names the VM); no thread was started and nothing
     *                               was sent
     */
    public static Migration start(MigratableVm vm, Channel channel, MigrationOptions options) {
        return start(vm, channel, Reconnector.NONE, options);
    }

    /**
     * As {@link #start(MigratableVm, Channel, MigrationOptions)}, recovering post-copy links with
     * {@code reconnector}.
     *
     * @param vm          the source VM; the migration owns it while it runs
     * @param channel     a connected channel to a destination running {@link #receive}
     * @param reconnector gives a new channel to the same destination after a break;
     *                    {@link Reconnector#NONE} for none
     * @param options     the options
     * @return the running migration: cancel it, await it
     * @throws IllegalStateException if {@code vm} is closed or another migration of it is running;
     *                               no thread was started and nothing was sent
     */
    public static Migration start(MigratableVm vm, Channel channel, Reconnector reconnector, MigrationOptions options) {
        VmClaims.Claim claim = VmClaims.claim(vm);
        try {
            Migration migration = new Migration(new SourceMigration(vm, channel, reconnector, options), claim, options);
            migration.startThread();
            return migration;
        } catch (RuntimeException | Error e) {
            claim.close();
            throw e;
        }
    }

    /**
     * Receives a migration into a target made by {@code factory}, resumes it, and takes part in
     * verification. Blocks until the VM runs here and verification ended, or the migration failed.
     *
     * @param channel a connected channel from the source
     * @param factory creates the target once the source announced its shape
     * @param options the options (this side uses the clock, the listener and verification)
     * @return the running target, now owned by the caller, and the destination's report
     * @throws MigrationException if the migration failed before the VM resumed here; the target
     *                            (if one was created) has been discarded
     */
    public static ReceivedMigration receive(Channel channel, TargetFactory factory, MigrationOptions options)
            throws MigrationException {
        return receive(channel, Reconnector.NONE, factory, options);
    }

    /**
     * As {@link #receive(Channel, TargetFactory, MigrationOptions)}, with a way to get a new
     * channel from the source (typically accepting again on the listener) if the link breaks
     * during post-copy. While the link is down, vCPUs that touch missing pages stay blocked.
     *
     * @param channel     a connected channel from the source
     * @param reconnector gives a new channel from the same source after a break;
     *                    {@link Reconnector#NONE} for none
     * @param factory     creates the target once the source announced its shape
     * @param options     the options (this side uses the clock, the listener and verification)
     * @return the running target, now owned by the caller, and the destination's report
     * @throws MigrationException if the migration failed before the VM resumed here; the target
     *                            (if one was created) has been discarded
     */
    public static ReceivedMigration receive(Channel channel, Reconnector reconnector, TargetFactory factory,
                                            MigrationOptions options) throws MigrationException {
        DestinationMigration.Outcome outcome = new DestinationMigration(channel, reconnector, factory, options).run();
        return new ReceivedMigration(outcome.target(), outcome.report());
    }

    /**
     * Receives a migration from whichever source first connects to {@code listener}, completes
     * the handshake and, when the options hold a {@link io.livemig.api.MigrationSecret}, proves it.
     * The listener is watched for the whole migration: connections that do not complete the
     * handshake within {@link io.livemig.api.ReceiveLimits#handshakeTimeout()} or cannot prove the
     * secret are turned away without disturbing the migration, and the source's own recovery or
     * settle connection (which names this migration) is taken when the link breaks. Prefer this
     * to {@link #receive(Channel, TargetFactory, MigrationOptions)} wherever the port is reachable by
     * others.
     *
     * @param listener      where sources connect; owned by the caller, who closes it afterwards
     * @param acceptTimeout how long to wait for the source
     * @param factory       creates the target once the source announced its shape
     * @param options       the options (secret, limits, expectation, recovery window, clock)
     * @return the running target, now owned by the caller, and the destination's report
     * @throws MigrationException if no source was admitted in time, or the migration failed before
     *                            the VM resumed here (the target, if one was created, is discarded)
     */
    public static ReceivedMigration receive(ChannelListener listener, Duration acceptTimeout, TargetFactory factory,
                                            MigrationOptions options) throws MigrationException {
        DestinationMigration.Outcome outcome = new DestinationMigration(listener, acceptTimeout, factory, options).run();
        return new ReceivedMigration(outcome.target(), outcome.report());
    }

    /**
     * As {@link #receive(ChannelListener, Duration, TargetFactory, MigrationOptions)}, into a target
     * created by the provider of {@code targetUri}.
     *
     * @param listener      where sources connect; owned by the caller, who closes it afterwards
     * @param acceptTimeout how long to wait for the source
     * @param targetUri     the provider URI the target is created from, such as {@code kvm:...}
     * @param options       the options (secret, limits, expectation, recovery window, clock)
     * @return the running target, now owned by the caller, and the destination's report
     * @throws MigrationException       if no source was admitted in time, or the migration failed
     *                                  before the VM resumed here
     * @throws IllegalArgumentException if no provider serves the URI's scheme
     */
    public static ReceivedMigration receive(ChannelListener listener, Duration acceptTimeout, URI targetUri,
                                            MigrationOptions options) throws MigrationException {
        HypervisorProvider provider = provider(targetUri);
        return receive(listener, acceptTimeout, descriptor -> provider.createTarget(targetUri, descriptor), options);
    }

    /**
     * Receives a migration into a target created by the provider of {@code targetUri}.
     *
     * @param channel   a connected channel from the source
     * @param targetUri the provider URI the target is created from, such as {@code kvm:...}
     * @param options   the options (this side uses the clock, the listener and verification)
     * @return the running target, now owned by the caller, and the destination's report
     * @throws MigrationException       if the migration failed before the VM resumed here
     * @throws IllegalArgumentException if no provider serves the URI's scheme
     * @see #receive(Channel, TargetFactory, MigrationOptions)
     */
    public static ReceivedMigration receive(Channel channel, URI targetUri, MigrationOptions options)
            throws MigrationException {
        HypervisorProvider provider = provider(targetUri);
        return receive(channel, descriptor -> provider.createTarget(targetUri, descriptor), options);
    }

    /**
     * Rehearses a migration inside this JVM: migrates {@code source} into a target made by
     * {@code targets}, over TCP connections on the loopback interface (as many as
     * {@code options.streams()} asks), verified page for page, and closes the target. The JVM
     * runs a method's first calls in its interpreter and compiles it once it has run often; a
     * process's first migration therefore runs its switchover (the pause, the last pages on both
     * sides, the state, COMMIT, the resume) largely interpreted, at several milliseconds of
     * downtime more than the next one, and shares the CPUs with the compiler while it copies. A
     * process that will migrate (a VMM, a control plane's agent, a destination waiting for its
     * source) calls this once or twice ahead of time with small throwaway VMs of the provider it
     * will use, so that its real migrations run compiled code, their page copy included;
     * {@code livemig kvm run}, {@code kvm receive} and {@code livemig demo} do so when they
     * start. The rehearsal's listener admits only a source that proves a secret made for it.
     *
     * <p>Blocks until the rehearsal ended; uses a thread of its own for the destination.
     *
     * @param source  a throwaway VM of the provider the real migrations will use, running (a few
     *                MiB of guest memory with data in them serve); handed over when this returns,
     *                still owned by the caller
     * @param targets makes the target; it is closed before this returns
     * @param options the options the real migrations will use (strategy, codecs, streams), so
     *                that theirs are the paths compiled; a new secret replaces any secret they hold
     * @return the source's report of the rehearsal
     * @throws MigrationException if the rehearsal failed ({@link MigrationException#sourceState()}
     *                            says where {@code source} is)
     * @throws IOException        if no port on the loopback interface could be bound
     */
    public static MigrationReport rehearse(MigratableVm source, TargetFactory targets, MigrationOptions options)
            throws MigrationException, IOException {
        Objects.requireNonNull(targets, "targets");
        MigrationOptions rehearsal = options.toBuilder().secret(MigrationSecret.random()).build();
        Duration timeout = rehearsal.ioTimeout();
        try (TcpChannelListener listener = TcpChannelListener.bind(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), timeout)) {
            CompletableFuture<ReceivedMigration> received = new CompletableFuture<>();
            Thread destination = Thread.ofPlatform().daemon().name("livemig-rehearsal-destination").start(() -> {
                try {
                    received.complete(receive(listener, timeout, targets, rehearsal));
                } catch (Throwable e) {
                    received.completeExceptionally(e);
                }
            });
            MigrationReport report;
            // Further connections (the data connections of several streams, a post-copy recovery)
            // are dialled to the same listener, where the destination takes them.
            Reconnector more = () -> TcpChannel.connect(listener.localAddress(), timeout, timeout);
            try (Channel channel = more.reconnect()) {
                report = migrate(source, channel, more, rehearsal);
            } catch (MigrationException | IOException | RuntimeException e) {
                // A destination still waiting for a source ends when its listener closes.
                listener.close();
                destination.interrupt();
                throw e;
            } finally {
                joinQuietly(destination);
            }
            try {
                received.get().target().close();
                return report;
            } catch (ExecutionException e) {
                if (e.getCause() instanceof MigrationException me) {
                    throw me;
                }
                throw new IOException("the rehearsal's destination failed: " + e.getCause(), e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while the rehearsal's destination ended", e);
            }
        }
    }

    private static void joinQuietly(Thread thread) {
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
