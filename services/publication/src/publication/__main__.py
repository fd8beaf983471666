from publication.app import main

main()
