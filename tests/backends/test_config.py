"""USNET_SOCKETS parsing: the seed README's examples, DESIGN.md's TAP shapes, errors, env knobs."""
# ruff: noqa: E501  (configuration examples are kept verbatim, one JSON value per line)

from __future__ import annotations

import contextlib
import json
import logging
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from usnet_backends.config import (
    ConfigError,
    DiscoverFromRoute,
    EnvSettings,
    InterfaceName,
    Ipc,
    Ipv4Dhcp,
    Ipv4Passthru,
    Ipv4Static,
    Ipv6Passthru,
    Ipv6Slaac,
    Ipv6Static,
    MacPassthru,
    MacRandom,
    MacStatic,
    MacVtapConfig,
    MacVtapCreate,
    MacVtapInterface,
    MemoryConfig,
    NetmapConfig,
    NetmapInterface,
    NetmapPort,
    RawConfig,
    StackConfig,
    TapConfig,
    TapCreate,
    TapInterface,
    UsnetConfig,
    UsnetInterface,
    check_config,
    config_from_env,
    describe,
    parse_config,
    to_json,
)

# The configuration lines of the seed README, verbatim (shell syntax included). Two are odd:
# the existing-macvtap line says "Interface:" and lacks its last "}", and the VALE line lacks
# its closing single quote.
README_LINES = [
    """USNET_SOCKETS='{"MacVtapConfig":{"Create":{"mac":"Passthru","parent":{"Interface":"eth0"},"ipv4":"Passthru"}}}'""",
    """USNET_SOCKETS='{"NetmapConfig":{"Interface":{"interface":{"Interface":{"netmap_name":"netmap:eth0","parent":"eth0"}},"mac":"Passthru","ipv4":"Passthru"}}}'""",
    """USNET_SOCKETS='{"MacVtapConfig":{"Create":{"mac":{"Static":"aa:bb:cc:dd:ee:00"},"parent":"DiscoverFromRoute","ipv4":{"Static":{"ipv4":"192.168.1.200","sub":24,"gateway":"192.168.1.1"}}}}}'""",
    """USNET_SOCKETS='{"MacVtapConfig":{"Interface:":{"interface":"mymacvtap", "ipv4":{"Static":{"ipv4":"192.168.1.200","sub":24,"gateway":"192.168.1.1"}}}}'""",
    """USNET_SOCKETS='{"NetmapConfig":{"Interface":{"interface":{"Interface":{"netmap_name":"vale0:0","parent":"eth0"}},"mac":"Random","ipv4":{"Static":{"ipv4":"192.168.1.201","sub":24,"gateway":"192.168.1.1"}} }}}""",
    """USNET_SOCKETS='{"UsnetConfig":{"Interface":{"interface":{"Interface":"eth0"},"ipc":"NetmapPipe","mac":"Passthru","ipv4":"Passthru"}}}'""",
    """USNET_SOCKETS='{"UsnetConfig":{"Interface":{"interface":{"Interface":"wlan0"},"ipc":"NetmapPipe","mac": {"Static":"aa:bb:cc:dd:ee:07"},"ipv4":{"Static":{"ipv4":"192.168.1.201","sub":24,"gateway":"192.168.1.1"}} }}}'""",
    """USNET_SOCKETS='{"NetmapConfig":{"Interface":{"interface":{"Interface":{"netmap_name":"netmap:eth0{4094","parent":"eth0"}},"mac":"Passthru","ipv4":"Passthru"}}}'""",
]


def _value(line: str) -> str:
    """The shell value: between USNET_SOCKETS=' and the closing quote (if there is one)."""
    value = line.removeprefix("USNET_SOCKETS='")
    return value.removesuffix("'")


def _static(ip: str, sub: int, gw: str) -> Ipv4Static:
    return Ipv4Static(IPv4Address(ip), sub, IPv4Address(gw))


MAC_00 = MacStatic(bytes.fromhex("aabbccddee00"))
MAC_07 = MacStatic(bytes.fromhex("aabbccddee07"))
README_MEANINGS: list[StackConfig] = [
    MacVtapConfig(MacVtapCreate(MacPassthru(), InterfaceName("eth0"), Ipv4Passthru())),
    NetmapConfig(NetmapInterface(NetmapPort("netmap:eth0", "eth0"), MacPassthru(), Ipv4Passthru())),
    MacVtapConfig(
        MacVtapCreate(MAC_00, DiscoverFromRoute(), _static("192.168.1.200", 24, "192.168.1.1"))
    ),
    MacVtapConfig(MacVtapInterface("mymacvtap", _static("192.168.1.200", 24, "192.168.1.1"))),
    NetmapConfig(
        NetmapInterface(
            NetmapPort("vale0:0", "eth0"), MacRandom(), _static("192.168.1.201", 24, "192.168.1.1")
        )
    ),
    UsnetConfig(
        UsnetInterface(InterfaceName("eth0"), Ipc.NETMAP_PIPE, MacPassthru(), Ipv4Passthru())
    ),
    UsnetConfig(
        UsnetInterface(
            InterfaceName("wlan0"),
            Ipc.NETMAP_PIPE,
            MAC_07,
            _static("192.168.1.201", 24, "192.168.1.1"),
        )
    ),
    NetmapConfig(
        NetmapInterface(NetmapPort("netmap:eth0{4094", "eth0"), MacPassthru(), Ipv4Passthru())
    ),
]


@pytest.mark.parametrize(("line", "meaning"), list(zip(README_LINES, README_MEANINGS, strict=True)))
def test_seed_readme_examples_parse_and_mean_what_they_say(line: str, meaning: StackConfig) -> None:
    assert parse_config(_value(line)) == meaning


def test_readme_odd_example_is_repaired_with_notes() -> None:
    config, notes = check_config(_value(README_LINES[3]))
    assert isinstance(config, MacVtapConfig)
    assert isinstance(config.device, MacVtapInterface)
    assert notes == (
        "the JSON ends early: read it as if it ended with '}'",
        'MacVtapConfig: read variant "Interface:" as "Interface"',
    )
    clean = [line for i, line in enumerate(README_LINES) if i != 3]
    assert all(check_config(_value(line))[1] == () for line in clean)


def test_repairs_are_logged_and_refused_when_strict(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="usnet.config"):
        parse_config(_value(README_LINES[3]))
    assert "Interface:" in caplog.text
    with pytest.raises(
        ConfigError, match=r"invalid JSON at line 1 column 135 .*'}' missing at the end"
    ):
        parse_config(_value(README_LINES[3]), strict=True)
    fixed = _value(README_LINES[3]) + "}"
    with pytest.raises(ConfigError, match=r'MacVtapConfig: unknown variant "Interface:"'):
        parse_config(fixed, strict=True)
    assert (
        parse_config(fixed.replace("Interface:", "Interface"), strict=True) == (README_MEANINGS[3])
    )


def test_readme_comment_variants() -> None:
    """The alternatives the README's comments name: DiscoverFromRoute, UnixDomainSocket."""
    passthru = '{"MacVtapConfig":{"Create":{"mac":"Passthru","parent":"DiscoverFromRoute","ipv4":"Passthru"}}}'
    assert parse_config(passthru) == MacVtapConfig(
        MacVtapCreate(MacPassthru(), DiscoverFromRoute(), Ipv4Passthru())
    )
    uds = '{"UsnetConfig":{"Interface":{"interface":"DiscoverFromRoute","ipc":"UnixDomainSocket","mac":"Passthru","ipv4":"Passthru"}}}'
    assert parse_config(uds) == UsnetConfig(
        UsnetInterface(DiscoverFromRoute(), Ipc.UNIX_DOMAIN_SOCKET, MacPassthru(), Ipv4Passthru())
    )
    random = (
        '{"MacVtapConfig":{"Create":{"mac":"Random","parent":"DiscoverFromRoute","ipv4":"Dhcp"}}}'
    )
    assert parse_config(random) == MacVtapConfig(
        MacVtapCreate(MacRandom(), DiscoverFromRoute(), Ipv4Dhcp())
    )


def test_describe_says_what_the_readme_says() -> None:
    text = describe(parse_config(_value(README_LINES[0])))
    assert "create a macvtap in passthru mode on the interface eth0" in text
    assert "take over the MAC address of the interface eth0" in text
    assert "take over the IPv4 address" in text
    text = describe(
        parse_config(
            '{"MacVtapConfig":{"Create":{"mac":"Passthru","parent":"DiscoverFromRoute","ipv4":"Passthru"}}}'
        )
    )
    assert "passthru mode on the interface of the default route" in text
    assert "bridge mode" in describe(parse_config(_value(README_LINES[2])))
    assert "existing macvtap mymacvtap; left in place" in describe(README_MEANINGS[3])
    assert "VALE switch vale0" in describe(README_MEANINGS[4])
    assert "netmap pipe" in describe(README_MEANINGS[5])
    assert "static netmap pipe netmap:eth0{4094" in describe(README_MEANINGS[7])
    assert "192.168.1.201/24 with default gateway 192.168.1.1" in describe(README_MEANINGS[6])


@pytest.mark.parametrize("meaning", README_MEANINGS)
def test_to_json_round_trips_strictly(meaning: StackConfig) -> None:
    assert parse_config(to_json(meaning), strict=True) == meaning


# --- DESIGN.md: TapConfig and RawConfig ---------------------------------------------------

TAP_CREATE = '{"TapConfig":{"Create":{"mac":"Random","ipv4":{"Static":{"ipv4":"10.99.0.2","sub":24,"gateway":"10.99.0.1"}},"host_ip":"10.99.0.1"}}}'
TAP_INTERFACE = '{"TapConfig":{"Interface":{"interface":"tap0","mac":{"Static":"02:00:00:00:00:02"},"ipv4":{"Static":{"ipv4":"10.99.0.2","sub":24,"gateway":"10.99.0.1"}}}}}'


def test_design_tap_examples() -> None:
    net = _static("10.99.0.2", 24, "10.99.0.1")
    create = parse_config(TAP_CREATE)
    assert create == TapConfig(TapCreate(MacRandom(), net, IPv4Address("10.99.0.1")))
    assert "create a TAP" in describe(create)
    assert "the kernel of this namespace, at 10.99.0.1/24" in describe(create)
    interface = parse_config(TAP_INTERFACE)
    mac = MacStatic(bytes.fromhex("020000000002"))
    assert interface == TapConfig(TapInterface("tap0", mac, net))
    assert "existing TAP tap0; left in place" in describe(interface)


def test_tap_create_extensions() -> None:
    text = json.loads(TAP_CREATE)
    body = text["TapConfig"]["Create"]
    body |= {
        "name": "usnettest0",
        "mtu": 9000,
        "ipv6": {"Static": {"ipv6": "fd00:99::2", "prefix": 64, "gateway": "fd00:99::1"}},
        "host_ip6": "fd00:99::1",
    }
    config = parse_config(json.dumps(text))
    assert isinstance(config, TapConfig)
    dev = config.device
    assert isinstance(dev, TapCreate)
    assert (dev.name, dev.mtu, dev.host_ip6) == ("usnettest0", 9000, IPv6Address("fd00:99::1"))
    assert dev.ipv6 == Ipv6Static(IPv6Address("fd00:99::2"), 64, IPv6Address("fd00:99::1"))
    assert parse_config(to_json(config), strict=True) == config
    assert "MTU: 9000" in describe(config)


def test_raw_config_spellings() -> None:
    assert parse_config('"RawConfig"') == RawConfig()
    assert parse_config('{"RawConfig": null}') == RawConfig()  # serde accepts this too
    assert to_json(RawConfig()) == '"RawConfig"'
    assert "AF_PACKET" in describe(RawConfig())


def test_ipv6_beside_ipv4() -> None:
    base = json.loads(_value(README_LINES[0]))
    create = base["MacVtapConfig"]["Create"]
    for value, meaning in [
        ("Passthru", Ipv6Passthru()),
        ("Slaac", Ipv6Slaac()),
        (
            {"Static": {"ipv6": "2001:db8::5", "prefix": 64, "gateway": "fe80::1"}},
            Ipv6Static(IPv6Address("2001:db8::5"), 64, IPv6Address("fe80::1")),
        ),
    ]:
        create["ipv6"] = value
        config = parse_config(json.dumps(base))
        assert isinstance(config, MacVtapConfig)
        assert config.device.ipv6 == meaning
        assert parse_config(to_json(config), strict=True) == config


def test_memory_config() -> None:
    text = '{"MemoryConfig":{"link":"lab","mac":{"Static":"02:00:00:00:00:01"},"ipv4":{"Static":{"ipv4":"10.0.0.2","sub":24,"gateway":"10.0.0.1"}}}}'
    config = parse_config(text)
    assert config == MemoryConfig(
        MacStatic(bytes.fromhex("020000000001")), _static("10.0.0.2", 24, "10.0.0.1"), "lab"
    )
    assert parse_config(to_json(config), strict=True) == config
    assert "memory link" in describe(config)


# --- errors name the field --------------------------------------------------------------------

_CREATE = '{"TapConfig":{"Create":{"mac":"Random","ipv4":{"Static":{"ipv4":"10.99.0.2","sub":%s,"gateway":"10.99.0.1"}},"host_ip":"10.99.0.1"}}}'

BAD = [
    # (value, the exact start of the message after "USNET_SOCKETS: ")
    (_CREATE % '"x"', 'TapConfig.Create.ipv4.Static.sub: expected an integer 0..32, got "x"'),
    (_CREATE % "33", "TapConfig.Create.ipv4.Static.sub: expected an integer 0..32, got 33"),
    (_CREATE % "24.0", "TapConfig.Create.ipv4.Static.sub: expected an integer 0..32, got 24.0"),
    (_CREATE % "true", "TapConfig.Create.ipv4.Static.sub: expected an integer 0..32, got true"),
    (
        '{"MacVtapConfig":{"Create":{"mac":"Stati","parent":"DiscoverFromRoute","ipv4":"Passthru"}}}',
        'MacVtapConfig.Create.mac: unknown variant "Stati", expected "Passthru", "Random" or '
        '{"Static": "aa:bb:cc:dd:ee:00"}; did you mean "Static"?',
    ),
    (
        '{"MacVtapConfig":{"Create":{"mac":"Passthru","parent":"DiscoverFromRoute","ipv4":"Passthru","color":1}}}',
        'MacVtapConfig.Create: unknown key "color", expected "mac", "parent", "ipv4" or "ipv6"',
    ),
    (
        '{"MacVtapConfig":{"Create":{"mac":{"Static":"aa:bb:cc:dd:ee"},"parent":"DiscoverFromRoute","ipv4":"Passthru"}}}',
        'MacVtapConfig.Create.mac.Static: expected a MAC address like "aa:bb:cc:dd:ee:00", got '
        '"aa:bb:cc:dd:ee"',
    ),
    (
        '{"MacVtapConfig":{"Create":{"mac":{"Static":"01:00:5e:00:00:01"},"parent":"DiscoverFromRoute","ipv4":"Passthru"}}}',
        'MacVtapConfig.Create.mac.Static: "01:00:5e:00:00:01" is a multicast address',
    ),
    (
        '{"MacVtapConfig":{"Create":{"mac":"Passthru","parent":"DiscoverFromRoute","ipv4":{"Static":{"ipv4":"192.168.1.300","sub":24,"gateway":"192.168.1.1"}}}}}',
        'MacVtapConfig.Create.ipv4.Static.ipv4: expected an IPv4 address like "192.168.1.200", '
        'got "192.168.1.300"',
    ),
    (
        '{"MacVtapConfig":{"Create":{"mac":"Passthru","parent":"DiscoverFromRoute","ipv4":{"Static":{"ipv4":"192.168.1.200","sub":24,"gateway":"10.0.0.1"}}}}}',
        "MacVtapConfig.Create.ipv4.Static.gateway: 10.0.0.1 is not inside 192.168.1.200/24",
    ),
    (
        '{"MacVtapConfig":{"Create":{"mac":"Passthru","ipv4":"Passthru"}}}',
        'MacVtapConfig.Create: missing key "parent"',
    ),
    (
        '{"MacVtapConfig":{"Create":{"mac":"Passthru","parent":{"Interface":"eth0"},"ipv4":"Passthru"}}',
        "invalid JSON",  # strict: no repairs; lenient: a repair makes this one parse
    ),
    (
        '{"MacVtapConfig":{"Create":{"mac":"Passthru" "parent":"DiscoverFromRoute"}}}',
        "invalid JSON at line 1 column 46 (char 45): Expecting ',' delimiter (near",
    ),
    (
        '{"UsnetConfig":{"Interface":{"interface":"DiscoverFromRoute","ipc":"Pipe","mac":"Passthru","ipv4":"Passthru"}}}',
        'UsnetConfig.Interface.ipc: unknown variant "Pipe", expected "NetmapPipe" or '
        '"UnixDomainSocket"',
    ),
    (
        '{"UsnetConfig":{"Interface":{"interface":"eth0","ipc":"NetmapPipe","mac":"Passthru","ipv4":"Passthru"}}}',
        'UsnetConfig.Interface.interface: unknown variant "eth0", expected "DiscoverFromRoute" or '
        '{"Interface": "eth0"}',
    ),
    ('{"WifiConfig":{}}', 'unknown variant "WifiConfig", expected "RawConfig", {"MacVtapConfig"'),
    ('"TapConfig"', '"TapConfig" needs a value: write {"TapConfig": ...}'),
    ("[]", 'expected "RawConfig", {"MacVtapConfig": ...}'),
    (
        '{"TapConfig":{}}',
        'TapConfig: expected exactly one variant key ({"Create": ...} or {"Interface": ...}), '
        "got none",
    ),
    (
        '{"TapConfig":{"Create":{"mac":"Passthru","ipv4":{"Static":{"ipv4":"10.99.0.2","sub":24,"gateway":"10.99.0.1"}},"host_ip":"10.99.0.1"}}}',
        'TapConfig.Create.mac: "Passthru" is not possible here',
    ),
    (
        '{"TapConfig":{"Create":{"mac":"Random","ipv4":"Passthru","host_ip":"10.99.0.1"}}}',
        'TapConfig.Create.ipv4: "Passthru" is not possible here',
    ),
    (
        '{"TapConfig":{"Create":{"mac":"Random","ipv4":{"Static":{"ipv4":"10.99.0.2","sub":24,"gateway":"10.99.0.1"}},"host_ip":"10.98.0.1"}}}',
        "TapConfig.Create.host_ip: 10.98.0.1 is not inside 10.99.0.0/24",
    ),
    (
        '{"TapConfig":{"Create":{"mac":"Random","ipv4":{"Static":{"ipv4":"10.99.0.2","sub":24,"gateway":"10.99.0.1"}},"host_ip":"10.99.0.2"}}}',
        "TapConfig.Create.host_ip: 10.99.0.2 is the stack's own address",
    ),
    (
        '{"TapConfig":{"Interface":{"interface":"a/b","mac":"Random","ipv4":{"Static":{"ipv4":"10.99.0.2","sub":24,"gateway":"10.99.0.1"}}}}}',
        "TapConfig.Interface.interface: expected an interface name",
    ),
    (
        '{"TapConfig":{"Create":{"mac":"Random","mac":"Random","ipv4":{"Static":{"ipv4":"10.99.0.2","sub":24,"gateway":"10.99.0.1"}},"host_ip":"10.99.0.1"}}}',
        "TapConfig.Create.mac: duplicate key",
    ),
    (
        '{"NetmapConfig":{"Interface":{"interface":{"Interface":{"netmap_name":"eth0","parent":"eth0"}},"mac":"Passthru","ipv4":"Passthru"}}}',
        "NetmapConfig.Interface.interface.Interface.netmap_name: expected a netmap port",
    ),
    (
        '{"MacVtapConfig":{"Create":{"mac":"Passthru","parent":"DiscoverFromRoute","ipv4":"Passthru","ipv6":{"Static":{"ipv6":"2001:db8::5","prefix":129,"gateway":"fe80::1"}}}}}',
        "MacVtapConfig.Create.ipv6.Static.prefix: expected an integer 0..128, got 129",
    ),
    ('{"RawConfig": 1}', '"RawConfig" takes no value: write "RawConfig"'),
    ("", "empty value"),
    ('{"MemoryConfig":{"mac":"Random","ipv4":{"Static":{"ipv4":"NaN"}}}}', "MemoryConfig.ipv4"),
    ("NaN", "invalid JSON: NaN is not valid JSON"),
    ('"RawConfig" x', "invalid JSON at line 1 column 13 (char 12): Extra data"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_errors_name_the_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, strict=True)
    assert str(info.value).startswith(f"USNET_SOCKETS: {message}"), str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_error_attributes() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_CREATE % '"x"', source="JSON")
    assert info.value.source == "JSON"
    assert info.value.path == "TapConfig.Create.ipv4.Static.sub"
    assert str(info.value).startswith("JSON: TapConfig.Create.ipv4.Static.sub: ")


# Any JSON-ish value: only ConfigError comes out, never another exception.
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["Passthru", "Random", "Static", "RawConfig", "Create", "Interface"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "TapConfig",
                    "MacVtapConfig",
                    "NetmapConfig",
                    "UsnetConfig",
                    "MemoryConfig",
                    "Create",
                    "Interface",
                    "Static",
                    "mac",
                    "ipv4",
                    "ipv6",
                    "sub",
                    "gateway",
                    "parent",
                    "interface",
                    "ipc",
                    "host_ip",
                    "netmap_name",
                    "Interface:",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@given(_json_values)
def test_only_config_error_for_any_json(value: object) -> None:
    try:
        config = parse_config(json.dumps(value))
    except ConfigError:
        return
    assert parse_config(to_json(config), strict=True) == config


@given(st.text(max_size=40))
def test_only_config_error_for_any_text(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_config(text)


# --- the environment ------------------------------------------------------------------------


def test_config_from_env() -> None:
    assert config_from_env({}) is None
    assert config_from_env({"USNET_SOCKETS": '"RawConfig"'}) == RawConfig()
    with pytest.raises(ConfigError, match=r"^USNET_SOCKETS: empty value"):
        config_from_env({"USNET_SOCKETS": ""})


def test_env_defaults() -> None:
    env = EnvSettings.from_env({})
    assert env == EnvSettings(0, 32, 500000, -1, (), True)
    assert env.pin_cpu is None
    assert EnvSettings.from_env({"SOCKET_BACKLOG": ""}) == env  # empty means default
    assert "SOCKET_BUFFER=500000" in env.describe()


def test_env_values() -> None:
    env = EnvSettings.from_env(
        {
            "REDUCE_MTU_BY": "40",
            "SOCKET_BACKLOG": "128",
            "SOCKET_BUFFER": "1048576",
            "BG_THREAD_PIN_CPU_ID": "3",
            "USNET_DNS": "9.9.9.9, 1.1.1.1",
            "USNET_SOCKETS_WAIT": "false",
            "UNRELATED": "x",
        }
    )
    assert env.reduce_mtu_by == 40
    assert env.socket_backlog == 128
    assert env.socket_buffer == 1048576
    assert env.pin_cpu == 3
    assert env.dns == (IPv4Address("9.9.9.9"), IPv4Address("1.1.1.1"))
    assert env.wait is False


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("REDUCE_MTU_BY", "-1", "expected an integer 0..65467"),
        ("REDUCE_MTU_BY", "1.5", "expected an integer"),
        ("SOCKET_BACKLOG", "0", 'expected an integer 1..65535, got "0"'),
        ("SOCKET_BACKLOG", "abc", 'expected an integer 1..65535, got "abc"'),
        ("SOCKET_BUFFER", "0", "expected an integer 1..1073741824"),
        ("SOCKET_BUFFER", "1_000", "expected an integer"),
        ("BG_THREAD_PIN_CPU_ID", "x", "expected an integer -32768..32767"),
        ("USNET_DNS", "9.9.9.9,dns.google", 'expected comma-separated IPv4 addresses, got "dns'),
        ("USNET_SOCKETS_WAIT", "yes", 'expected "true" or "false"'),
    ],
)
def test_env_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        EnvSettings.from_env({name: value})
    assert str(info.value).startswith(f"{name}: {message}"), str(info.value)
