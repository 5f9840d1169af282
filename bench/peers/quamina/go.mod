module switchboard.dev/bench/peers/quamina

go 1.22

require github.com/timbray/quamina v1.5.0
