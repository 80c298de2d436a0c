/**
 * The provider contract suite: JUnit 5 checks a hypervisor vendor runs against their
 * {@link io.livemig.spi.HypervisorProvider}'s VMs, by extending
 * {@link io.livemig.kit.contract.ProviderContract} (or implementing some of the contract
 * interfaces) and returning a {@link io.livemig.kit.contract.ProviderFixture}.
 *
 * <p>The checks cover memory reads and writes through the layout, dirty tracking's
 * collect-and-clear with no lost write, vCPU pause, resume and state, device state, demand
 * paging, throttling and a whole migration of each strategy the provider claims, verified page
 * for page. Optional capabilities a provider lacks are skipped by name. Each assertion's message
 * says which promise of the SPI was broken.
 *
 * <p>{@code junit-jupiter-api} is an optional dependency of the test kit: present in any project
 * that runs these checks, not pulled into one that only uses the in-memory VMs.
 */
package io.livemig.kit.contract;
