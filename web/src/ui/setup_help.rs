//! Ready-to-paste configurations of the common update clients for one host, filled in with
//! the service's address (the README's, which the client tests prove for ddclient and
//! inadyn).

/// Ready-to-paste configurations of the common clients for `name` on this service.
pub(super) fn client_setup(name: &str, public_url: &str) -> Vec<(&'static str, String)> {
    let server = public_url
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let ssl = if public_url.starts_with("https://") {
        "yes"
    } else {
        "no"
    };
    let key = "YOUR-UPDATE-KEY";
    vec![
        (
            "ddclient (/etc/ddclient.conf)",
            format!(
                "protocol=dyndns2\nssl={ssl}\nserver={server}\nlogin={name}\npassword='{key}'\n\
                 use=web, web={public_url}/checkip\n{name}\n"
            ),
        ),
        (
            "inadyn (/etc/inadyn.conf)",
            format!(
                "custom dyn53 {{\n    ssl            = {}\n    username       = \"{name}\"\n    \
                 password       = \"{key}\"\n    checkip-server = \"{server}\"\n    \
                 checkip-path   = \"/checkip\"\n    ddns-server    = \"{server}\"\n    \
                 ddns-path      = \"/nic/update?hostname=%h&myip=%i\"\n    \
                 hostname       = {{ \"{name}\" }}\n}}\n",
                ssl == "yes"
            ),
        ),
        (
            "OpenWrt (/etc/config/ddns)",
            format!(
                "config service 'dyn53'\n\toption lookup_host '{name}'\n\toption domain '{name}'\n\
                 \toption username '{name}'\n\toption password '{key}'\n\toption update_url \
                 '{}://[USERNAME]:[PASSWORD]@{server}/nic/update?hostname=[DOMAIN]&myip=[IP]'\n\
                 \toption interface 'wan'\n",
                if ssl == "yes" { "https" } else { "http" }
            ),
        ),
        (
            "Fritz!Box (custom provider)",
            format!(
                "Update-URL: {public_url}/nic/update?hostname=<domain>&myip=<ipaddr>&myipv6=<ip6addr>\
                 &username=<username>&password=<pass>\nDomain name: {name}\nUser name: {name}\n\
                 Password: {key}\n"
            ),
        ),
        (
            "cron + curl",
            format!(
                "*/5 * * * * curl -fsS -u '{name}:{key}' '{public_url}/nic/update?hostname={name}' >/dev/null\n"
            ),
        ),
    ]
}
