module splinter.local/splinter

go 1.19
