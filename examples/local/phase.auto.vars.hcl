phase = "mirror"
